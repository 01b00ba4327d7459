"""Events without I/O: what a message says (or why it is dropped), which of two
LastModifiedTimes comes first, what to do with a change, where the queue is."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from standin.events import delete_call, package_event
from standin.sagemaker import Registry
from syncer.aws.queue import queue_endpoint, queue_region
from syncer.cycle.feed.order import LastModified
from syncer.errors import ConfigError
from syncer.events.apply import Decision, decide
from syncer.events.parse import (
    MAX_MESSAGE_BYTES,
    DeleteCall,
    Dropped,
    PackageEvent,
    parse_message,
)
from syncer.models import Order, PackageChange, in_scope, modified_order, whole_seconds
from syncer.settings import load_settings

T = datetime(2026, 3, 1, 12, 0, 5, tzinfo=UTC)
MS = timedelta(milliseconds=1)


def registry_with_package() -> tuple[Registry, str]:
    registry = Registry(clock=lambda: T.timestamp() + 0.25)
    registry.create_group("churn")
    arn = registry.create_package(
        "churn", life_cycle={"Stage": "Staging", "StageStatus": "Approved"}
    )
    return registry, arn


# ---------------------------------------------------------------- parse
def test_a_package_state_change_is_read_as_its_record_to_the_second() -> None:
    registry, arn = registry_with_package()
    event = parse_message(json.dumps(package_event(registry, arn)))
    assert isinstance(event, PackageEvent)
    assert (event.account_id, event.region, event.group_name) == ("123456789012", "us-east-1", "churn")
    change = event.change
    assert change.arn == arn and change.whole_seconds
    assert change.last_modified == T  # "12:00:05Z": the fraction is not sent
    assert (change.approval_status, change.life_cycle_stage) == ("PendingManualApproval", "Staging")
    assert event.record["CreationTime"] == T.timestamp()  # epoch seconds, as Search sends them
    summary = event.summary()
    assert (summary.group_name, summary.version, summary.name) == ("churn", 1, None)


def test_an_event_keeps_the_stored_value_of_a_key_it_does_not_carry() -> None:
    registry, arn = registry_with_package()
    body = package_event(registry, arn)
    del body["detail"]["ModelLifeCycle"]
    event = parse_message(json.dumps(body))
    assert isinstance(event, PackageEvent)
    stored = {"ModelLifeCycle": {"Stage": "Production", "StageStatus": "Approved"}}
    change = event.over(stored)
    assert change.life_cycle_stage == "Production" and change.whole_seconds
    assert json.loads(change.patch)["ModelLifeCycle"]["Stage"] == "Production"


def test_delete_calls_name_their_package_or_group_and_when() -> None:
    registry, arn = registry_with_package()
    call = parse_message(json.dumps(delete_call(registry, "DeleteModelPackage", {"modelPackageName": arn})))
    assert isinstance(call, DeleteCall)
    assert (call.kind, call.name, call.at) == ("package", arn, T)
    group = parse_message(
        json.dumps(delete_call(registry, "DeleteModelPackageGroup", {"ModelPackageGroupName": "churn"}))
    )
    assert isinstance(group, DeleteCall) and (group.kind, group.name) == ("group", "churn")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("{not json", "malformed"),
        ("[1]", "malformed"),
        ('{"detail": {}}', "malformed"),
        ('{"source": "aws.sagemaker", "detail-type": "SageMaker Model Package State Change"}', "malformed"),
        ('{"source": "aws.s3", "detail-type": "Object Created", "detail": {}}', "unknown_detail_type"),
        (
            '{"source": "aws.sagemaker", "detail-type": "SageMaker Endpoint State Change", "detail": {}}',
            "unknown_detail_type",
        ),
        (
            '{"source": "aws.sagemaker", "detail-type": "SageMaker Model Package State Change",'
            ' "detail": {"ModelPackageArn": "arn:aws:sagemaker:us-east-1:1:model-package/g/1"}}',
            "malformed",  # no LastModifiedTime
        ),
        ("x" * (MAX_MESSAGE_BYTES + 1), "too_large"),
    ],
)
def test_what_cannot_be_used_says_why(body: str, reason: str) -> None:
    with pytest.raises(Dropped) as dropped:
        parse_message(body)
    assert dropped.value.reason == reason


def test_other_calls_and_failed_calls_are_dropped() -> None:
    registry, _ = registry_with_package()
    cases: list[tuple[dict[str, Any], str]] = [
        (delete_call(registry, "CreateModelPackage", {"modelPackageGroupName": "g"}), "unknown_detail_type"),
        (
            delete_call(registry, "DeleteModelPackageGroup", {"modelPackageGroupName": "churn"}, error="ConflictException"),
            "failed_call",
        ),
        (delete_call(registry, "DeleteModelPackage", {}), "malformed"),
    ]
    for body, reason in cases:
        with pytest.raises(Dropped) as dropped:
            parse_message(json.dumps(body))
        assert dropped.value.reason == reason, body


def test_scope_follows_the_listings() -> None:
    assert in_scope("team-a-churn", "team-a", True)
    assert not in_scope("team-b-churn", "team-a", True)
    assert in_scope(None, "team-a", True)  # unversioned packages are listed whatever the filter
    assert not in_scope(None, None, False)


# ---------------------------------------------------------------- order
def test_a_time_without_a_fraction_stands_for_its_whole_second() -> None:
    assert whole_seconds("2026-03-01T12:00:05Z") and whole_seconds(1772366405)
    assert not whole_seconds("2026-03-01T12:00:05.250Z") and not whole_seconds(1772366405.25)
    assert not whole_seconds(T)
    second = T  # [12:00:05, 12:00:06)
    assert modified_order(second, True, T + 250 * MS, False) is Order.OVERLAP
    assert modified_order(second, True, T - MS, False) is Order.AFTER
    assert modified_order(second + timedelta(seconds=1), True, T + 999 * MS, False) is Order.AFTER
    assert modified_order(T + 250 * MS, False, second, True) is Order.OVERLAP
    assert modified_order(T - MS, False, second, True) is Order.BEFORE
    assert modified_order(second, True, second, True) is Order.OVERLAP
    assert modified_order(T + MS, False, T + MS, False) is Order.SAME
    assert modified_order(T + 2 * MS, False, T + MS, False) is Order.AFTER


def change(at: datetime, whole: bool) -> PackageChange:
    return PackageChange("arn", at, "Completed", "Approved", None, None, None, "{}", whole_seconds=whole)


@pytest.mark.parametrize(
    ("incoming", "stored", "same", "whole", "decision"),
    [
        (change(T, True), None, True, False, Decision.APPLY),  # its time orders what follows
        (change(T + timedelta(seconds=1), True), LastModified(T, True), True, False, Decision.APPLY),
        (change(T - timedelta(seconds=1), True), LastModified(T, True), False, False, Decision.STALE),
        (change(T, True), LastModified(T, True), True, False, Decision.DUPLICATE),
        (change(T, True), LastModified(T + 300 * MS, False), False, False, Decision.TIE),
        (change(T + 700 * MS, False), LastModified(T, True), False, True, Decision.APPLY),
        (change(T + 700 * MS, False), LastModified(T + 800 * MS, False), False, True, Decision.STALE),
    ],
)
def test_decisions(
    incoming: PackageChange, stored: LastModified | None, same: bool, whole: bool, decision: Decision
) -> None:
    assert decide(incoming, stored, same_values=same, whole=whole) is decision


# ---------------------------------------------------------------- the queue
def test_the_queue_url_gives_the_region_and_where_to_send() -> None:
    aws = "https://sqs.eu-west-1.amazonaws.com/123456789012/registry-sync-events"
    assert queue_region(aws) == "eu-west-1" and queue_endpoint(aws) is None
    legacy = "https://ap-south-1.queue.amazonaws.com/123456789012/q"
    assert queue_region(legacy) == "ap-south-1" and queue_endpoint(legacy) is None
    local = "http://127.0.0.1:4566/000000000000/q"
    assert queue_region(local) is None and queue_endpoint(local) == "http://127.0.0.1:4566"


def test_the_queue_url_setting_is_checked() -> None:
    ok = load_settings(
        database_url="postgresql://x@h/d",
        events_queue_url="https://sqs.us-east-1.amazonaws.com/123456789012/registry-sync-events",
    )
    assert ok.events_interval_seconds == 300
    assert load_settings(database_url="postgresql://x@h/d", events_queue_url="").events_queue_url is None
    with pytest.raises(ConfigError, match="SYNCER_EVENTS_QUEUE_URL"):
        load_settings(database_url="postgresql://x@h/d", events_queue_url="registry-sync-events")
    with pytest.raises(ConfigError, match="SYNCER_EVENTS_INTERVAL_SECONDS"):
        load_settings(database_url="postgresql://x@h/d", events_interval_seconds=0)
