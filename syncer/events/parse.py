"""What a queue message says: an EventBridge event, checked and typed, or why it is dropped.

Two kinds are used. "SageMaker Model Package State Change" (source
``aws.sagemaker``) carries a package's record in ``detail``: ARN, group,
version, statuses, ``ModelLifeCycle`` where set, ``LastModifiedTime`` (an
ISO time to the second in AWS's sample), and some of the governance details.
"AWS API Call via CloudTrail" carries a call; only successful
``DeleteModelPackage`` and ``DeleteModelPackageGroup`` calls are used.
Anything else is dropped with a reason (``Dropped``); nothing here does I/O.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from syncer.models import (
    MUTABLE_SUMMARY_KEYS,
    InvalidRecord,
    PackageChange,
    PackageSummary,
    _arn,
    _cleaned,
    parse_package,
    parse_package_change,
    parse_timestamp,
    to_epoch,
)

SOURCE = "aws.sagemaker"
PACKAGE_STATE_CHANGE = "SageMaker Model Package State Change"
API_CALL = "AWS API Call via CloudTrail"
DELETE_PACKAGE = "DeleteModelPackage"
DELETE_GROUP = "DeleteModelPackageGroup"
# EventBridge's largest event: a bigger message did not come from a rule.
MAX_MESSAGE_BYTES = 256 * 1024
# The reasons a message is dropped (and deleted), one label each of
# syncer_events_dropped_total; the first four are decided here.
DROP_REASONS = (
    "too_large",
    "malformed",
    "unknown_detail_type",
    "failed_call",
    "foreign_target",
    "not_mirrored",
    "unresolved_tie",
)
# The keys of a ListModelPackages summary, for a package first seen in an event.
_SUMMARY_KEYS = (
    "ModelPackageArn",
    "ModelPackageGroupName",
    "ModelPackageVersion",
    "ModelPackageName",
    "ModelPackageDescription",
    "CreationTime",
    "ModelPackageStatus",
    "ModelApprovalStatus",
    "ModelLifeCycle",
    "ModelPackageRegistrationType",
)
_TIMES = ("CreationTime", "LastModifiedTime")


class Dropped(Exception):
    """A message the service cannot use; ``reason`` is one of DROP_REASONS."""

    def __init__(self, reason: str, why: str) -> None:
        super().__init__(why)
        self.reason = reason


@dataclass(frozen=True)
class PackageEvent:
    """A model package's record, as an event (or DescribeModelPackage) gave it."""

    event_id: str
    time: datetime | None  # when the event happened, per EventBridge (for the lag)
    account_id: str
    region: str
    group_name: str | None  # None: an unversioned package
    record: dict[str, Any]  # the record, cleaned, its times as epoch seconds
    change: PackageChange
    # A record that is the package's whole state (DescribeModelPackage): what it
    # leaves out is absent. An event's is read as carrying what it carries.
    whole: bool = False

    @property
    def arn(self) -> str:
        return self.change.arn

    def over(self, stored_summary: dict[str, Any]) -> PackageChange:
        """The change this event makes to a row whose summary is ``stored_summary``:
        a mutable key the event leaves out keeps its stored value."""
        if self.whole:
            return self.change
        kept = {k: stored_summary[k] for k in MUTABLE_SUMMARY_KEYS if k in stored_summary}
        merged = {**kept, **self.record}
        change = parse_package_change({"ModelPackage": merged})
        return replace(change, whole_seconds=self.change.whole_seconds)

    def summary(self) -> PackageSummary:
        """The ListModelPackages summary of a package the mirror does not have yet."""
        item = {k: self.record[k] for k in _SUMMARY_KEYS if k in self.record}
        if self.group_name is not None:  # versioned summaries carry no name
            item.pop("ModelPackageName", None)
        return parse_package(item, self.group_name)


@dataclass(frozen=True)
class DeleteCall:
    """A successful DeleteModelPackage or DeleteModelPackageGroup call, from CloudTrail."""

    event_id: str
    time: datetime | None
    account_id: str
    region: str
    kind: Literal["package", "group"]
    name: str  # as the call named it: an ARN, or a name
    at: datetime  # when the call was made, to the second


Event = PackageEvent | DeleteCall


def parse_message(body: str) -> Event:
    """The event a queue message holds; raises Dropped with the reason it cannot be used."""
    size = len(body.encode("utf-8", "surrogatepass"))
    if size > MAX_MESSAGE_BYTES:
        raise Dropped("too_large", f"{size} bytes, over {MAX_MESSAGE_BYTES}")
    try:
        envelope = json.loads(body)
    except ValueError as exc:
        raise Dropped("malformed", f"not JSON: {exc}") from None
    if not isinstance(envelope, dict):
        raise Dropped("malformed", f"a JSON {type(envelope).__name__}, not an event object")
    kind, source = envelope.get("detail-type"), envelope.get("source")
    detail = envelope.get("detail")
    if not isinstance(kind, str) or not isinstance(source, str):
        raise Dropped("malformed", "no detail-type or source: not an EventBridge event")
    if source != SOURCE or kind not in (PACKAGE_STATE_CHANGE, API_CALL):
        raise Dropped("unknown_detail_type", f"{source}: {kind[:100]!r}")
    if not isinstance(detail, dict):
        raise Dropped("malformed", f"{kind}: detail is not an object")
    try:
        if kind == PACKAGE_STATE_CHANGE:
            return package_event(detail, str(envelope.get("id", "")), _time(envelope))
        return delete_call(detail, envelope)
    except InvalidRecord as exc:
        raise Dropped("malformed", f"{kind}: {exc}") from None


def package_event(
    detail: dict[str, Any], event_id: str = "", time: datetime | None = None, *, whole: bool = False
) -> PackageEvent:
    """A model package record (an event's detail, or a DescribeModelPackage response)."""
    change = parse_package_change({"ModelPackage": detail})
    record, _ = _cleaned(detail)
    _, region, account_id = _arn(record, "ModelPackageArn")
    for key in _TIMES:
        if record.get(key) is not None:
            record[key] = to_epoch(parse_timestamp(record[key]))
    group = record.get("ModelPackageGroupName")
    versioned = record.get("ModelPackageVersion") is not None
    return PackageEvent(
        event_id=event_id,
        time=time,
        account_id=account_id,
        region=region,
        group_name=str(group) if versioned and group is not None else None,
        record=record,
        change=change,
        whole=whole,
    )


def delete_call(detail: dict[str, Any], envelope: dict[str, Any]) -> DeleteCall:
    name = detail.get("eventName")
    if name not in (DELETE_PACKAGE, DELETE_GROUP):
        raise Dropped("unknown_detail_type", f"{API_CALL}: {str(name)[:100]!r}")
    if detail.get("errorCode"):  # CloudTrail records refused calls too
        raise Dropped("failed_call", f"{name} failed: {str(detail['errorCode'])[:100]}")
    parameters = detail.get("requestParameters")
    if not isinstance(parameters, dict):
        raise InvalidRecord(f"{name} has no requestParameters")
    key = "modelPackageName" if name == DELETE_PACKAGE else "modelPackageGroupName"
    named = _parameter(parameters, key)
    at = detail.get("eventTime") or envelope.get("time")
    if at is None:
        raise InvalidRecord(f"{name} has no eventTime")
    account = detail.get("recipientAccountId") or envelope.get("account")
    region = detail.get("awsRegion") or envelope.get("region")
    if named.startswith("arn:"):
        _, region, account = _arn({"arn": named}, "arn")
    if not isinstance(account, str) or not isinstance(region, str) or not account or not region:
        raise InvalidRecord(f"{name} names no account and region")
    return DeleteCall(
        event_id=str(envelope.get("id", "")),
        time=_time(envelope),
        account_id=account,
        region=region,
        kind="package" if name == DELETE_PACKAGE else "group",
        name=named,
        at=parse_timestamp(at),
    )


def _parameter(parameters: dict[str, Any], key: str) -> str:
    """A request parameter as CloudTrail records it (camelCase; the API's PascalCase too)."""
    value = parameters.get(key, parameters.get(key[0].upper() + key[1:]))
    if not isinstance(value, str) or not value:
        raise InvalidRecord(f"requestParameters has no {key}")
    return value


def _time(envelope: dict[str, Any]) -> datetime | None:
    try:
        return parse_timestamp(envelope["time"]) if envelope.get("time") else None
    except InvalidRecord:
        return None
