"""Deployments: Search records of models and endpoints, as typed values.

``Search(Resource="Model")`` returns ``ModelDashboardModel`` records: the model
(``PrimaryContainer`` or the ``Containers`` of an inference pipeline, each of
which may name the package it was made from in ``ModelPackageName``) and the
endpoints that host it. ``Search(Resource="Endpoint")`` returns endpoints;
their production variants name images, not models, so which models an
endpoint serves comes from the models' records. Parsing is as defensive as
for summaries: a record without a usable ARN, name or creation time is skipped
with a reason, and so is a model whose list of endpoints holds one without
an ARN or a name (storing the others would end that one's period). Container
``Environment`` maps are left out of the stored record: people put
credentials there.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from syncer.details.parse import _dict, _dicts, _model_data_url, _tags, _without_withheld
from syncer.models import (
    InvalidRecord,
    _arn,
    _cleaned,
    _indexed_text,
    _require,
    _required_text,
    _text,
    bounded,
    parse_timestamp,
)

# Where a Search result's ARN is.
MODEL_ARN = ("Model", "Model", "ModelArn")
ENDPOINT_ARN = ("Endpoint", "EndpointArn")

# An endpoint's ARN and a model's share an index entry (endpoint_models), which
# holds about 2.7 kB: each may take half of it (real ones are far shorter).
MAX_LINKED_ARN = 1024


@dataclass(frozen=True, slots=True)
class Container:
    position: int
    hostname: str | None
    image: str | None
    model_data_url: str | None
    mode: str | None
    model_package_name: str | None  # as given: a name, group/version or an ARN
    inference_specification_name: str | None


@dataclass(frozen=True, slots=True)
class Hosting:
    """An endpoint that hosts a model, as the model's record lists it."""

    endpoint_arn: str
    endpoint_name: str
    last_modified_time: datetime | None


@dataclass(frozen=True, slots=True)
class ModelRecord:
    arn: str
    account_id: str
    region: str
    name: str
    creation_time: datetime
    execution_role_arn: str | None
    enable_network_isolation: bool | None
    inference_execution_mode: str | None
    tags: str | None  # JSON object text
    containers: list[Container]
    endpoints: list[Hosting]
    record: str  # JSON text of the ModelDashboardModel, withheld keys removed


@dataclass(frozen=True, slots=True)
class EndpointRecord:
    arn: str
    account_id: str
    region: str
    name: str
    config_name: str | None
    status: str | None
    failure_reason: str | None
    creation_time: datetime
    last_modified_time: datetime | None
    tags: str | None
    record: str


def parse_model(result: dict[str, Any]) -> ModelRecord:
    """One Search result, ``{"Model": {"Model": {...}, "Endpoints": [...], ...}}``."""
    dashboard = result.get("Model")
    if not isinstance(dashboard, dict):
        raise InvalidRecord("search result has no Model object")
    dashboard, record = _without_withheld(*_cleaned(dashboard))
    bounded(record)
    model = dashboard.get("Model")
    if not isinstance(model, dict):
        raise InvalidRecord("ModelDashboardModel has no Model object")
    arn, region, account_id = _linked_arn(model, "ModelArn")
    _indexed_text(model, "ModelName")
    primary = model.get("PrimaryContainer")
    containers = [primary] if isinstance(primary, dict) else _dicts(model.get("Containers"))
    isolation = model.get("EnableNetworkIsolation")
    return ModelRecord(
        arn=arn,
        account_id=account_id,
        region=region,
        name=_required_text(model, "ModelName"),
        creation_time=parse_timestamp(_require(model, "CreationTime")),
        execution_role_arn=_text(model, "ExecutionRoleArn"),
        enable_network_isolation=isolation if isinstance(isolation, bool) else None,
        inference_execution_mode=_text(_dict(model.get("InferenceExecutionConfig")), "Mode"),
        tags=_tags(model.get("Tags")),
        containers=[_container(i, c) for i, c in enumerate(containers)],
        endpoints=list(_hosting(dashboard.get("Endpoints"))),
        record=record,
    )


def parse_endpoint(result: dict[str, Any]) -> EndpointRecord:
    """One Search result, ``{"Endpoint": {...}}``."""
    item = result.get("Endpoint")
    if not isinstance(item, dict):
        raise InvalidRecord("search result has no Endpoint object")
    item, record = _cleaned(item)
    bounded(record)
    arn, region, account_id = _linked_arn(item, "EndpointArn")
    _indexed_text(item, "EndpointName")
    modified = item.get("LastModifiedTime")
    return EndpointRecord(
        arn=arn,
        account_id=account_id,
        region=region,
        name=_required_text(item, "EndpointName"),
        config_name=_text(item, "EndpointConfigName"),
        status=_text(item, "EndpointStatus"),
        failure_reason=_text(item, "FailureReason"),
        creation_time=parse_timestamp(_require(item, "CreationTime")),
        last_modified_time=parse_timestamp(modified) if modified is not None else None,
        tags=_tags(item.get("Tags")),
        record=record,
    )


def _linked_arn(item: dict[str, Any], key: str) -> tuple[str, str, str]:
    arn, region, account_id = _arn(item, key)
    _indexed_text(item, key, MAX_LINKED_ARN)
    return arn, region, account_id


def _container(position: int, item: dict[str, Any]) -> Container:
    return Container(
        position=position,
        hostname=_text(item, "ContainerHostname"),
        image=_text(item, "Image"),
        model_data_url=_model_data_url(item),
        mode=_text(item, "Mode"),
        model_package_name=_indexed_text(item, "ModelPackageName", MAX_LINKED_ARN),
        inference_specification_name=_text(item, "InferenceSpecificationName"),
    )


def _hosting(value: Any) -> Iterable[Hosting]:
    if value is None:
        return
    if not isinstance(value, list):
        raise InvalidRecord("Endpoints is not a list")
    for item in value:
        if not isinstance(item, dict):
            raise InvalidRecord("an entry of Endpoints is not an object")
        arn, _, _ = _linked_arn(item, "EndpointArn")
        modified = item.get("LastModifiedTime")
        yield Hosting(
            endpoint_arn=arn,
            endpoint_name=_required_text(item, "EndpointName"),
            last_modified_time=parse_timestamp(modified) if modified is not None else None,
        )
