"""Governance details: what Search records say beyond a listing's summary, as typed values.

``Search(Resource="ModelPackage")`` returns whole ``ModelPackage`` records:
who created and last modified a package (UserContext), the approval note,
tags, customer metadata, containers, metrics, drift baselines, the model
card. ``Search(Resource="ModelPackageGroup")`` gives a group's creator and
tags. Parsing is as defensive as for summaries: a record without a usable
ARN is skipped with a reason; odd optional fields become NULL or empty.

Two things are never stored: the model card's content (it may be
KMS-protected; its status is enough) and container ``Environment`` maps,
which people fill with credentials. Identities (IAM ARNs, Studio user
profiles) are personal data (docs/governance-details.md#personal-data-and-what-is-not-stored).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from syncer.models import (
    MAX_TAGS,
    InvalidRecord,
    Oversized,
    _arn,
    _cleaned,
    _json,
    _require,
    _text,
    bounded,
    parse_timestamp,
    user_context,
)

# Keys dropped from the stored record wherever they occur (see the module doc).
WITHHELD_KEYS = frozenset({"ModelCardContent", "Environment"})


@dataclass(frozen=True, slots=True)
class PackageDetails:
    arn: str
    group_name: str | None
    creation_time: datetime
    created_by_arn: str | None
    created_by_user_profile: str | None
    last_modified_by_arn: str | None
    last_modified_by_user_profile: str | None
    last_modified_time: datetime | None
    approval_description: str | None
    tags: str | None  # JSON object text
    customer_metadata: str | None  # JSON object text
    image_uris: list[str]
    model_data_urls: list[str]
    source_uri: str | None
    domain: str | None
    task: str | None
    sample_payload_url: str | None
    has_model_metrics: bool
    model_metrics_s3_uris: list[str]
    has_drift_check_baselines: bool
    drift_check_baselines_s3_uris: list[str]
    model_card_status: str | None
    record: str  # JSON text of the record as received, withheld keys removed
    # Lineage (MetadataProperties), statuses (ModelPackageStatusDetails) and the
    # containers of the additional inference specifications.
    generated_by: str | None = None
    project_id: str | None = None
    commit_id: str | None = None
    repository: str | None = None
    validation_statuses: str | None = None  # JSON object text {name: status}
    image_scan_statuses: str | None = None
    additional_image_uris: list[str] = field(default_factory=list)
    additional_model_data_urls: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class GroupDetails:
    arn: str
    name: str | None
    created_by_arn: str | None
    created_by_user_profile: str | None
    tags: str | None
    record: str


def parse_package_details(result: dict[str, Any]) -> PackageDetails:
    """One Search result, ``{"ModelPackage": {...}}``."""
    item = result.get("ModelPackage")
    if not isinstance(item, dict):
        raise InvalidRecord("search result has no ModelPackage object")
    item, record = _without_withheld(*_cleaned(item))
    bounded(record)
    arn, _, _ = _arn(item, "ModelPackageArn")
    created_by = user_context(item.get("CreatedBy"))
    modified_by = user_context(item.get("LastModifiedBy"))
    modified = item.get("LastModifiedTime")
    containers = _dicts(_dict(item.get("InferenceSpecification")).get("Containers"))
    metrics = _dict(item.get("ModelMetrics"))
    baselines = _dict(item.get("DriftCheckBaselines"))
    group = _text(item, "ModelPackageGroupName")
    metadata = _dict(item.get("MetadataProperties"))
    statuses = _dict(item.get("ModelPackageStatusDetails"))
    more = [
        c
        for spec in _dicts(item.get("AdditionalInferenceSpecifications"))
        for c in _dicts(spec.get("Containers"))
    ]
    return PackageDetails(
        arn=arn,
        # Versioned records carry the group; an unversioned one has none.
        group_name=group if item.get("ModelPackageVersion") is not None else None,
        creation_time=parse_timestamp(_require(item, "CreationTime")),
        created_by_arn=created_by[0],
        created_by_user_profile=created_by[1],
        last_modified_by_arn=modified_by[0],
        last_modified_by_user_profile=modified_by[1],
        last_modified_time=parse_timestamp(modified) if modified is not None else None,
        approval_description=_text(item, "ApprovalDescription"),
        tags=_tags(item.get("Tags")),
        customer_metadata=_string_map(item.get("CustomerMetadataProperties")),
        image_uris=[_str(c["Image"]) for c in containers if c.get("Image") is not None],
        model_data_urls=[url for c in containers if (url := _model_data_url(c)) is not None],
        source_uri=_text(item, "SourceUri"),
        domain=_text(item, "Domain"),
        task=_text(item, "Task"),
        sample_payload_url=_text(item, "SamplePayloadUrl"),
        has_model_metrics=bool(metrics),
        model_metrics_s3_uris=list(_s3_uris(metrics)),
        has_drift_check_baselines=bool(baselines),
        drift_check_baselines_s3_uris=list(_s3_uris(baselines)),
        model_card_status=_text(_dict(item.get("ModelCard")), "ModelCardStatus"),
        record=record,
        generated_by=_text(metadata, "GeneratedBy"),
        project_id=_text(metadata, "ProjectId"),
        commit_id=_text(metadata, "CommitId"),
        repository=_text(metadata, "Repository"),
        validation_statuses=_statuses(statuses.get("ValidationStatuses")),
        image_scan_statuses=_statuses(statuses.get("ImageScanStatuses")),
        additional_image_uris=[_str(c["Image"]) for c in more if c.get("Image") is not None],
        additional_model_data_urls=[url for c in more if (url := _model_data_url(c)) is not None],
    )


def parse_group_details(result: dict[str, Any]) -> GroupDetails:
    """One Search result, ``{"ModelPackageGroup": {...}}``."""
    item = result.get("ModelPackageGroup")
    if not isinstance(item, dict):
        raise InvalidRecord("search result has no ModelPackageGroup object")
    item, record = _cleaned(item)
    bounded(record)
    arn, _, _ = _arn(item, "ModelPackageGroupArn")
    created_by = user_context(item.get("CreatedBy"))
    return GroupDetails(
        arn=arn,
        name=_text(item, "ModelPackageGroupName"),
        created_by_arn=created_by[0],
        created_by_user_profile=created_by[1],
        tags=_tags(item.get("Tags")),
        record=record,
    )


def _without_withheld(item: dict[str, Any], text: str) -> tuple[dict[str, Any], str]:
    """The record and its JSON text without the withheld keys; copied and encoded
    again only when one occurs."""
    if not any(f'"{key}"' in text for key in WITHHELD_KEYS):
        return item, text
    stripped: dict[str, Any] = _withheld(item)
    return stripped, _json(stripped)


def _withheld(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _withheld(v) for k, v in value.items() if k not in WITHHELD_KEYS}
    if isinstance(value, list):
        return [_withheld(v) for v in value]
    return value


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _str(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _model_data_url(container: dict[str, Any]) -> str | None:
    url = container.get("ModelDataUrl")
    if url is None:
        url = _dict(_dict(container.get("ModelDataSource")).get("S3DataSource")).get("S3Uri")
    return None if url is None else _str(url)


def _s3_uris(value: Any) -> Iterator[str]:
    """Every S3Uri in a nested structure (metrics and baselines nest them in reports)."""
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "S3Uri" and isinstance(inner, str):
                yield inner
            else:
                yield from _s3_uris(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _s3_uris(inner)


def _statuses(value: Any) -> str | None:
    """[{Name, Status, FailureReason}] as a JSON object {name: status}; None when none
    is named."""
    named = {v["Name"]: v.get("Status") for v in _dicts(value) if isinstance(v.get("Name"), str)}
    return json.dumps(named, ensure_ascii=False) if named else None


def _tags(value: Any) -> str | None:
    """[{Key, Value}] as a JSON object; None when the record carried no Tags."""
    if not isinstance(value, list):
        return None
    if len(value) > MAX_TAGS:
        raise Oversized("tags", f"{len(value)} tags, over the limit of {MAX_TAGS}")
    tags = {
        t["Key"]: _str(t.get("Value", "")) for t in _dicts(value) if isinstance(t.get("Key"), str)
    }
    return json.dumps(tags, ensure_ascii=False)


def _string_map(value: Any) -> str | None:
    if not isinstance(value, dict) or not value:
        return None
    return json.dumps({str(k): _str(v) for k, v in value.items()}, ensure_ascii=False)
