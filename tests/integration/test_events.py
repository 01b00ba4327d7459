"""SageMaker's events from an SQS queue, applied to the mirror.

moto serves the queue (and, where it routes them, EventBridge's rules); the
stand-in serves SageMaker, whose registry the events describe
(standin/events.py builds them as AWS's sample event is shaped). The consumer
runs in-process here, against PostgreSQL; every test reads rows back. The
kills of a real `syncer run` are in tests/acceptance/test_events_kill.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
from prometheus_client import CollectorRegistry

from standin.events import delete_call, iso_second, new_queue, package_event, queue_counts, send
from standin.mirror import assert_same, mirror_packages, source_packages
from standin.sagemaker import CREDENTIALS, Registry, StandIn, serve_in_thread
from syncer.cli import _events_report, _print_events, cmd_check
from syncer.cycle.loop import Syncer
from syncer.events.consumer import EventConsumer, open_events
from syncer.events.metrics import EventMetrics
from syncer.service import open_store
from syncer.warehouse.status import read_status
from tests.conftest import boto_client, make_settings, open_syncer, sync_once

T0 = 1_767_225_600.0  # 2026-01-01: far outside any lookback


class Clock:
    """The registry's clock, moved by the test: changes land in chosen seconds."""

    def __init__(self, start: float = T0) -> None:
        self.now = start

    def __call__(self) -> float:
        return round(self.now, 3)

    def at(self, moment: float) -> None:
        self.now = moment


# ---------------------------------------------------------------- fixtures
@dataclass
class Harness:
    syncer: Syncer
    consumer: EventConsumer
    metrics: EventMetrics
    registry: CollectorRegistry
    stop: asyncio.Event

    def sample(self, name: str, **labels: str) -> float:
        value = self.registry.get_sample_value(name, labels)
        return 0.0 if value is None else value

    async def drain(self, sqs: Any, url: str, *, rounds: int = 20) -> None:
        """Receive and handle batches until the queue is empty."""
        for _ in range(rounds):
            if not sum(queue_counts(sqs, url)):
                return
            messages = await self.consumer._queue.receive()
            await self.consumer.health.answered()
            await self.consumer.handle(messages)
        raise AssertionError(f"{sum(queue_counts(sqs, url))} messages left")


@contextlib.asynccontextmanager
async def harness(
    database_url: str, endpoint: str, queue_url: str, **overrides: Any
) -> AsyncIterator[Harness]:
    """The service's loop (not running) and its events consumer, as `syncer run` wires them."""
    settings = make_settings(database_url, events_queue_url=queue_url, **overrides)
    registry = CollectorRegistry()
    metrics = EventMetrics(registry)
    stop = asyncio.Event()
    async with (
        open_syncer(database_url, endpoint, events_queue_url=queue_url, **overrides) as syncer,
        open_store(settings) as store,
    ):

        def sources() -> dict[tuple[str, str], Any]:
            return {(s.target.account_id, s.target.region): s for s in syncer.sources}

        async with open_events(
            settings,
            store,
            metrics,
            sources=sources,
            stop=stop,
            on_health_change=syncer.cadence_changed.set,
            static_credentials=CREDENTIALS,
        ) as consumer:
            syncer.events_healthy = lambda: consumer.health.healthy
            yield Harness(syncer, consumer, metrics, registry, stop)


@pytest.fixture
def standin() -> Iterator[tuple[StandIn, str]]:
    server = StandIn(Registry(clock=Clock()))
    with serve_in_thread(server) as endpoint:
        yield server, endpoint


def clock_of(server: StandIn) -> Clock:
    clock = server.registry.clock
    assert isinstance(clock, Clock)
    return clock


def seeded(server: StandIn, groups: int = 2, versions: int = 3) -> list[str]:
    registry, clock = server.registry, clock_of(server)
    arns = []
    for g in range(groups):
        clock.at(T0 + g * 100)
        registry.create_group(f"model-{g}")
        for v in range(versions):
            clock.at(T0 + g * 100 + v + 1)
            arns.append(registry.create_package(f"model-{g}"))
    clock.at(T0 + 1000)
    return arns


async def row(db: asyncpg.Connection, arn: str) -> asyncpg.Record:
    found = await db.fetchrow(
        "SELECT * FROM sagemaker.model_packages WHERE model_package_arn = $1", arn
    )
    assert found is not None, arn
    return found


async def history(db: asyncpg.Connection, arn: str, change_type: str) -> list[asyncpg.Record]:
    return list(
        await db.fetch(
            "SELECT * FROM sagemaker.model_package_changes"
            " WHERE model_package_arn = $1 AND change_type = $2 ORDER BY change_id",
            arn,
            change_type,
        )
    )


# ---------------------------------------------------------------- applied
async def test_an_approval_event_is_applied_with_its_history_modifier_and_details(
    database_url: str, db: asyncpg.Connection, sqs: Any, standin: tuple[StandIn, str]
) -> None:
    server, endpoint = standin
    arns = seeded(server)
    await sync_once(database_url, endpoint, full=True)
    url = new_queue(sqs)
    clock_of(server).at(T0 + 2000)
    server.registry.update_package(
        arns[0], approval="Approved", by="alice", approval_description="looks good"
    )
    send(sqs, url, package_event(server.registry, arns[0], modifier=True))
    async with harness(database_url, endpoint, url) as h:
        server.reset_counters()
        await h.drain(sqs, url)
        assert h.sample("syncer_events_applied_total", kind="changed") == 1
        assert h.sample("syncer_events_received_total") == 1
        assert h.sample("syncer_events_lag_seconds_count") == 1

    assert sum(queue_counts(sqs, url)) == 0  # deleted once committed
    assert sum(server.calls.values()) == 0  # no SageMaker call for an event
    assert (await row(db, arns[0]))["model_approval_status"] == "Approved"
    [change] = await history(db, arns[0], "model_approval_status")
    assert (change["old_value"], change["new_value"]) == ("PendingManualApproval", "Approved")
    assert change["last_modified_by_arn"].endswith("/alice")
    assert change["approval_description"] == "looks good"
    assert change["run_id"] is None
    details = await db.fetchrow(
        "SELECT * FROM sagemaker.model_package_details WHERE model_package_arn = $1", arns[0]
    )
    assert details["approval_description"] == "looks good"
    assert details["last_modified_by_user_profile"] == "alice"
    assert details["created_by_user_profile"] == "standin"  # kept from the details pass
    stamp = await db.fetchrow(
        "SELECT * FROM sagemaker.model_package_last_modified WHERE model_package_arn = $1", arns[0]
    )
    assert stamp["whole_seconds"] and stamp["applied_by"] == "event"
    assert stamp["last_modified_time"].timestamp() == T0 + 2000

    # The next listing finds nothing to change.
    result = await sync_once(database_url, endpoint, full=True)
    assert result.totals.packages_updated == 0


async def test_a_registration_event_stores_a_package_of_a_mirrored_group(
    database_url: str, db: asyncpg.Connection, sqs: Any, standin: tuple[StandIn, str]
) -> None:
    server, endpoint = standin
    seeded(server, groups=1)
    await sync_once(database_url, endpoint, full=True)
    url = new_queue(sqs)
    clock_of(server).at(T0 + 3000.25)
    arn = server.registry.create_package(
        "model-0", life_cycle={"Stage": "Staging", "StageStatus": "Approved"}
    )
    server.registry.create_group("model-new")
    unknown = server.registry.create_package("model-new")
    send(sqs, url, package_event(server.registry, arn), package_event(server.registry, unknown))
    async with harness(database_url, endpoint, url) as h:
        await h.drain(sqs, url)
        assert h.sample("syncer_events_applied_total", kind="created") == 1
        assert h.sample("syncer_events_ignored_total", reason="not_in_mirror") == 1

    stored = await row(db, arn)
    assert (stored["model_package_group_name"], stored["model_package_version"]) == ("model-0", 4)
    assert stored["model_life_cycle_stage"] == "Staging"
    assert not await db.fetch(
        "SELECT 1 FROM sagemaker.model_packages WHERE model_package_arn = $1", unknown
    )
    [created] = await history(db, arn, "created")
    assert created["new_value"] == "PendingManualApproval" and created["run_id"] is None
    assert len(await history(db, arn, "model_life_cycle_stage")) == 1
    # The watermark did not move: listings still find what came before it.
    assert not await db.fetchval(
        "SELECT watermark >= $1 FROM sagemaker.sync_state WHERE model_package_group_name = 'model-0'",
        stored["creation_time"],
    )

    # A listing then stores the millisecond and the rest, and records no second creation.
    await sync_once(database_url, endpoint)
    source = source_packages(boto_client(endpoint))
    assert_same(await mirror_packages(db), source)
    assert len(await history(db, arn, "created")) == 1


# ---------------------------------------------------------------- order
async def test_duplicates_and_any_order_leave_the_latest_state(
    database_url: str, db: asyncpg.Connection, sqs: Any, standin: tuple[StandIn, str]
) -> None:
    server, endpoint = standin
    arns = seeded(server, groups=1, versions=2)
    await sync_once(database_url, endpoint, full=True)
    url = new_queue(sqs)
    clock, registry = clock_of(server), server.registry
    events = []
    for second, (approval, stage) in enumerate(
        [("Approved", "Staging"), ("Rejected", "Staging"), ("Approved", "Production")]
    ):
        clock.at(T0 + 5000 + second * 10)
        registry.update_package(
            arns[0], approval=approval, life_cycle={"Stage": stage, "StageStatus": "Approved"}
        )
        events.append(package_event(registry, arns[0]))
    # Newest first, then the older ones, then duplicates of each.
    send(sqs, url, events[2], events[0], events[1], events[2], events[0])
    async with harness(database_url, endpoint, url) as h:
        await h.drain(sqs, url)  # in the order sent
        assert h.sample("syncer_events_applied_total", kind="changed") == 1
        assert h.sample("syncer_events_ignored_total", reason="stale") == 3
        assert h.sample("syncer_events_ignored_total", reason="duplicate") == 1

    stored = await row(db, arns[0])
    assert (stored["model_approval_status"], stored["model_life_cycle_stage"]) == (
        "Approved",
        "Production",
    )
    # Only what moved forward was recorded: pending -> Approved, Staging -> Production.
    assert [
        (c["old_value"], c["new_value"])
        for c in await history(db, arns[0], "model_approval_status")
    ] == [("PendingManualApproval", "Approved")]
    assert_same(await mirror_packages(db), source_packages(boto_client(endpoint)))


async def test_two_changes_in_one_second_are_settled_by_describing_the_package(
    database_url: str, db: asyncpg.Connection, sqs: Any, standin: tuple[StandIn, str]
) -> None:
    server, endpoint = standin
    arns = seeded(server, groups=1, versions=1)
    await sync_once(database_url, endpoint, full=True)
    url = new_queue(sqs)
    clock, registry = clock_of(server), server.registry
    clock.at(T0 + 6000.100)
    registry.update_package(arns[0], approval="Approved")
    first = package_event(registry, arns[0])
    clock.at(T0 + 6000.700)  # the same second
    registry.update_package(arns[0], approval="Rejected")
    second = package_event(registry, arns[0])
    assert first["detail"]["LastModifiedTime"] == second["detail"]["LastModifiedTime"]
    send(sqs, url, second, first)  # the later change arrives first
    async with harness(database_url, endpoint, url) as h:
        server.reset_counters()
        await h.drain(sqs, url)
        assert h.sample("syncer_events_ties_total") == 1

    assert server.calls["DescribeModelPackage"] == 1  # one call, for the tie only
    assert sum(server.calls.values()) == 1
    assert (await row(db, arns[0]))["model_approval_status"] == "Rejected"
    stamp = await db.fetchrow(
        "SELECT * FROM sagemaker.model_package_last_modified WHERE model_package_arn = $1", arns[0]
    )
    assert (stamp["applied_by"], stamp["whole_seconds"]) == ("describe", False)
    assert abs(stamp["last_modified_time"].timestamp() - (T0 + 6000.7)) < 1e-3


async def test_a_lagging_search_index_does_not_undo_what_an_event_applied(
    database_url: str, db: asyncpg.Connection, sqs: Any, standin: tuple[StandIn, str]
) -> None:
    """The index still serves the approval when the rejection's event is applied:
    the change feed's older record is left out."""
    server, endpoint = standin
    arns = seeded(server, groups=1, versions=1)
    await sync_once(database_url, endpoint, full=True)
    url = new_queue(sqs)
    clock_of(server).at(T0 + 7000)
    server.registry.update_package(arns[0], approval="Approved")
    rejected = package_event(server.registry, arns[0])
    rejected["detail"].update(
        ModelApprovalStatus="Rejected", LastModifiedTime=iso_second(T0 + 7010)
    )
    send(sqs, url, rejected)
    async with harness(database_url, endpoint, url) as h:
        await h.drain(sqs, url)
        server.reset_counters()
        result = await h.syncer.run_cycle(full=False, wait=True)
        assert result.status == "succeeded"
    assert server.calls["Search"] >= 1  # the feed read the approval, and left it out
    assert (await row(db, arns[0]))["model_approval_status"] == "Rejected"


# ---------------------------------------------------------------- deletions
async def test_delete_calls_mark_packages_and_groups_deleted_as_a_reconcile_would(
    database_url: str, db: asyncpg.Connection, sqs: Any, standin: tuple[StandIn, str]
) -> None:
    server, endpoint = standin
    arns = seeded(server, groups=2, versions=2)
    await sync_once(database_url, endpoint, full=True)
    url = new_queue(sqs)
    registry, clock = server.registry, clock_of(server)
    clock.at(T0 + 8000)
    registration = package_event(registry, arns[0])  # an old event, delivered late
    registry.delete_package(arns[0])
    refused = delete_call(
        registry,
        "DeleteModelPackageGroup",
        {"modelPackageGroupName": "model-1"},
        error="ConflictException",
    )
    for arn in arns[2:]:
        registry.delete_package(arn)
    registry.delete_group("model-1")
    send(
        sqs,
        url,
        delete_call(registry, "DeleteModelPackage", {"modelPackageName": arns[0]}),
        refused,
        delete_call(registry, "DeleteModelPackageGroup", {"modelPackageGroupName": "model-1"}),
        registration,
    )
    async with harness(database_url, endpoint, url) as h:
        await h.drain(sqs, url)
        assert h.sample("syncer_events_applied_total", kind="deleted") == 2
        assert h.sample("syncer_events_dropped_total", reason="failed_call") == 1
        assert h.sample("syncer_events_ignored_total", reason="deleted") == 1

    assert (await row(db, arns[0]))["deleted_at"] is not None
    [deleted] = await history(db, arns[0], "deleted")
    assert deleted["old_value"] == "PendingManualApproval" and deleted["run_id"] is None
    for arn in arns[2:]:
        assert (await row(db, arn))["deleted_at"] is not None
    assert await db.fetchval(
        "SELECT deleted_at IS NOT NULL FROM sagemaker.model_package_groups"
        " WHERE model_package_group_name = 'model-1'"
    )
    # What a reconcile finds then is what the events marked: nothing more to do.
    result = await sync_once(database_url, endpoint, full=True)
    assert result.totals.packages_deleted == 0 and result.totals.groups_deleted == 0
    assert_same(await mirror_packages(db), source_packages(boto_client(endpoint)))


async def test_a_registration_older_than_a_delete_call_does_not_bring_the_package_back(
    database_url: str, db: asyncpg.Connection, sqs: Any, standin: tuple[StandIn, str]
) -> None:
    server, endpoint = standin
    seeded(server, groups=1, versions=1)
    await sync_once(database_url, endpoint, full=True)
    url = new_queue(sqs)
    registry, clock = server.registry, clock_of(server)
    clock.at(T0 + 9000)
    arn = registry.create_package("model-0")
    registered = package_event(registry, arn)
    clock.at(T0 + 9005)
    registry.delete_package(arn)
    send(
        sqs, url, delete_call(registry, "DeleteModelPackage", {"modelPackageName": arn}), registered
    )
    async with harness(database_url, endpoint, url) as h:
        await h.drain(sqs, url)
        assert h.sample("syncer_events_ignored_total", reason="stale") == 1
    assert not await db.fetch(
        "SELECT 1 FROM sagemaker.model_packages WHERE model_package_arn = $1", arn
    )


# ---------------------------------------------------------------- dropped
async def test_what_cannot_be_used_is_dropped_counted_and_deleted_and_the_queue_goes_on(
    database_url: str, db: asyncpg.Connection, sqs: Any, standin: tuple[StandIn, str]
) -> None:
    server, endpoint = standin
    arns = seeded(server, groups=2, versions=1)
    server.registry.create_package(name="standalone")
    await sync_once(database_url, endpoint, full=True, group_name_contains="model-0")
    url = new_queue(sqs)
    registry, clock = server.registry, clock_of(server)
    clock.at(T0 + 10_000)
    for arn in arns:
        registry.update_package(arn, approval="Approved")
    good = package_event(registry, arns[0])
    filtered = package_event(registry, arns[1])  # model-1: not in the name filter
    unversioned = package_event(registry, registry._package("standalone").arn)
    foreign_account = json.loads(json.dumps(good).replace("123456789012", "210987654321"))
    foreign_region = json.loads(json.dumps(good).replace("us-east-1", "eu-west-3"))
    other_kind = dict(good, **{"detail-type": "SageMaker Model State Change"})
    other_call = delete_call(registry, "DeleteModel", {"modelName": "m"})
    big = dict(good, padding="x" * 300_000)
    send(
        sqs,
        url,
        "{not json",
        "[1, 2]",
        json.dumps({"detail-type": PACKAGE_STATE_CHANGE_TYPE, "source": "aws.sagemaker"}),
        other_kind,
        other_call,
        foreign_account,
        foreign_region,
        filtered,
        big,
        good,
    )
    async with harness(
        database_url, endpoint, url, group_name_contains="model-0", include_unversioned=False
    ) as h:
        send(sqs, url, unversioned)
        await h.drain(sqs, url)
        dropped = {
            reason: h.sample("syncer_events_dropped_total", reason=reason)
            for reason in (
                "malformed",
                "unknown_detail_type",
                "foreign_target",
                "not_mirrored",
                "too_large",
            )
        }
        assert dropped == {
            "malformed": 3,
            "unknown_detail_type": 2,
            "foreign_target": 2,
            "not_mirrored": 2,
            "too_large": 1,
        }
        assert h.sample("syncer_events_applied_total", kind="changed") == 1
    assert sum(queue_counts(sqs, url)) == 0
    assert (await row(db, arns[0]))["model_approval_status"] == "Approved"


PACKAGE_STATE_CHANGE_TYPE = "SageMaker Model Package State Change"


# ---------------------------------------------------------------- EventBridge
async def test_an_eventbridge_rule_delivers_events_that_are_applied(
    database_url: str,
    db: asyncpg.Connection,
    sqs: Any,
    moto_endpoint: str,
    standin: tuple[StandIn, str],
) -> None:
    """The queue's rule as deploy/events-queue.yaml writes it, on moto's EventBridge."""
    server, endpoint = standin
    arns = seeded(server, groups=1, versions=1)
    await sync_once(database_url, endpoint, full=True)
    url = new_queue(sqs)
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events = boto_client(moto_endpoint, "events")
    pattern = {"source": ["aws.sagemaker"], "detail-type": [PACKAGE_STATE_CHANGE_TYPE]}
    events.put_rule(Name="registry-sync-events", EventPattern=json.dumps(pattern))
    events.put_targets(Rule="registry-sync-events", Targets=[{"Id": "queue", "Arn": queue_arn}])
    clock_of(server).at(T0 + 11_000)
    server.registry.update_package(arns[0], approval="Rejected")
    event = package_event(server.registry, arns[0])
    put = events.put_events(
        Entries=[
            {
                "Source": event["source"],
                "DetailType": event["detail-type"],
                "Detail": json.dumps(event["detail"]),
                "Resources": event["resources"],
            },
            {"Source": "aws.s3", "DetailType": "Object Created", "Detail": "{}"},
        ]
    )
    assert put["FailedEntryCount"] == 0
    assert sum(queue_counts(sqs, url)) == 1  # the rule's pattern let one through
    async with harness(database_url, endpoint, url) as h:
        await h.drain(sqs, url)
    assert (await row(db, arns[0]))["model_approval_status"] == "Rejected"


# ---------------------------------------------------------------- the queue
async def test_the_queue_deleted_while_running_is_said_once_and_the_cycles_take_over(
    database_url: str, db: asyncpg.Connection, sqs: Any, standin: tuple[StandIn, str], capsys: Any
) -> None:
    server, endpoint = standin
    arns = seeded(server, groups=1, versions=1)
    url = new_queue(sqs)
    settings = {
        "interval_seconds": 60,
        "events_interval_seconds": 400,
        "reconcile_interval_seconds": 200,
    }
    send(sqs, url, "wake up")  # the first long poll answers at once
    async with harness(database_url, endpoint, url, **settings) as h:
        running = asyncio.create_task(h.consumer.run(), name="events")
        await until(lambda: h.consumer.health.healthy)
        assert h.syncer.interval_seconds() == 200  # 400, but at most the reconcile interval
        assert h.sample("syncer_events_queue_up") == 1
        h.syncer.cadence_changed.clear()

        sqs.delete_queue(QueueUrl=url)
        await until(lambda: h.consumer.health.state == "refused", within=40)
        assert h.syncer.cadence_changed.is_set()  # the loop's sleep is cut short
        assert h.syncer.interval_seconds() == 60
        assert h.sample("syncer_events_queue_up") == 0
        queue = await db.fetchrow("SELECT * FROM sagemaker.event_queues")
        assert queue["state"] == "refused" and "NonExistentQueue" in queue["last_error"]

        # The cycles go on, and still see changes.
        server.registry.update_package(arns[0], approval="Approved")
        result = await h.syncer.run_cycle(full=True, wait=True)
        assert result.status == "succeeded"
        assert (await row(db, arns[0]))["model_approval_status"] == "Approved"

        h.stop.set()
        await asyncio.wait_for(running, 5)

    report = await status_report(database_url, url)
    [queue_report] = report
    assert queue_report["configured"] and queue_report["state"] == "refused"
    _print_events(report)
    printed = capsys.readouterr().out
    assert "refused since" in printed and "the cycles apply changes meanwhile" in printed


async def until(condition: Callable[[], bool], within: float = 30) -> None:
    """Until ``condition`` holds: the consumer's state changes in its own task."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def status_report(database_url: str, url: str) -> list[dict[str, Any]]:
    settings = make_settings(database_url, events_queue_url=url)
    async with open_store(settings) as store:
        report = await read_status(store)
    return _events_report(settings, report["events"])


async def test_the_consumer_stops_within_the_grace_period_during_a_long_poll(
    database_url: str, sqs: Any, standin: tuple[StandIn, str]
) -> None:
    _, endpoint = standin
    url = new_queue(sqs)
    send(sqs, url, "wake up")  # the first long poll answers at once
    async with harness(database_url, endpoint, url) as h:
        running = asyncio.create_task(h.consumer.run(), name="events")
        await until(lambda: h.consumer.health.healthy)
        await asyncio.sleep(0.5)  # inside the next, 20 s long poll
        started = time.monotonic()
        h.stop.set()
        await asyncio.wait_for(running, 5)
        assert time.monotonic() - started < 2


async def test_many_events_in_any_order_leave_the_mirror_equal_to_the_source(
    database_url: str, db: asyncpg.Connection, sqs: Any, standin: tuple[StandIn, str]
) -> None:
    server, endpoint = standin
    arns = seeded(server, groups=3, versions=4)
    await sync_once(database_url, endpoint, full=True)
    url = new_queue(sqs)
    rng = random.Random(7)
    clock, registry = clock_of(server), server.registry
    events = []
    for step in range(60):
        clock.at(T0 + 20_000 + step * 0.4)  # some changes share a second
        arn = rng.choice(arns)
        registry.update_package(
            arn,
            approval=rng.choice(["Approved", "Rejected", "PendingManualApproval"]),
            life_cycle=rng.choice([None, {"Stage": "Staging", "StageStatus": "Approved"}]),
        )
        events.append(package_event(registry, arn))
    events += rng.sample(events, 12)
    rng.shuffle(events)
    send(sqs, url, *events)
    async with harness(database_url, endpoint, url) as h:
        await h.drain(sqs, url, rounds=100)
    assert_same(await mirror_packages(db), source_packages(boto_client(endpoint)))


async def test_a_message_that_keeps_failing_goes_to_the_dead_letter_queue(
    database_url: str,
    db: asyncpg.Connection,
    sqs: Any,
    standin: tuple[StandIn, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Its apply fails (the target's lock is held past the statement timeout): it is
    made visible again after a backoff, and SQS moves it aside after maxReceiveCount."""
    server, endpoint = standin
    arns = seeded(server, groups=1, versions=1)
    await sync_once(database_url, endpoint, full=True)
    dead = new_queue(sqs, "registry-sync-events-dead-letters")
    dead_arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    redrive = json.dumps({"deadLetterTargetArn": dead_arn, "maxReceiveCount": 2})
    url = new_queue(sqs, RedrivePolicy=redrive)
    monkeypatch.setattr("syncer.events.consumer.REDELIVER_FIRST_SECONDS", 1)
    clock_of(server).at(T0 + 12_000)
    server.registry.update_package(arns[0], approval="Approved")
    send(sqs, url, package_event(server.registry, arns[0]))
    locker = await asyncpg.connect(database_url)
    try:
        async with locker.transaction():
            await locker.execute(
                "SELECT sagemaker.lock_scope('123456789012', 'us-east-1', 'groups', '')"
            )
            async with harness(database_url, endpoint, url, statement_timeout_seconds=1) as h:
                running = asyncio.create_task(h.consumer.run(), name="events")
                await until(lambda: sum(queue_counts(sqs, dead)) == 1, within=60)
                h.stop.set()
                await asyncio.wait_for(running, 5)
                assert h.sample("syncer_events_failed_total") == 2
    finally:
        await locker.close()
    assert sum(queue_counts(sqs, url)) == 0
    assert (await row(db, arns[0]))["model_approval_status"] == "PendingManualApproval"


async def test_the_loop_goes_back_to_its_interval_as_soon_as_the_queue_stops_answering(
    database_url: str, db: asyncpg.Connection, standin: tuple[StandIn, str]
) -> None:
    _, endpoint = standin
    healthy = True
    settings = {"interval_seconds": 1, "events_interval_seconds": 60}
    async with open_syncer(database_url, endpoint, **settings) as syncer:
        syncer.events_healthy = lambda: healthy
        assert syncer.interval_seconds() == 60
        loop = asyncio.create_task(syncer.run_forever(), name="sync-loop")
        try:
            await until(lambda: syncer.cycles_completed == 1)
            await asyncio.sleep(1.5)  # an interval without events would have ended by now
            assert syncer.cycles_completed == 1
            healthy = False
            syncer.cadence_changed.set()  # what the consumer does when the queue fails
            await until(lambda: syncer.cycles_completed == 2, within=3)
        finally:
            syncer.stop_event.set()
            await asyncio.wait_for(loop, 10)


async def test_check_says_whether_the_queue_can_be_used_and_touches_no_message(
    database_url: str,
    sqs: Any,
    standin: tuple[StandIn, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, endpoint = standin
    url = new_queue(sqs)
    send(sqs, url, "a message that check leaves alone")
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)  # SageMaker and STS: the stand-in
    settings = make_settings(database_url, events_queue_url=url)
    assert await cmd_check(settings) == 0
    assert f"ok    events queue {url}" in capsys.readouterr().out
    visible = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    assert visible["Attributes"]["ApproximateNumberOfMessages"] == "1"

    sqs.delete_queue(QueueUrl=url)
    assert await cmd_check(settings) == 2
    printed = capsys.readouterr().out
    assert f"FAIL  events queue {url}" in printed and "NonExistentQueue" in printed


async def test_without_governance_details_an_event_records_no_identity(
    database_url: str, db: asyncpg.Connection, sqs: Any, standin: tuple[StandIn, str]
) -> None:
    server, endpoint = standin
    arns = seeded(server, groups=1, versions=1)
    await sync_once(database_url, endpoint, full=True, details=False)
    url = new_queue(sqs)
    clock_of(server).at(T0 + 13_000)
    server.registry.update_package(
        arns[0], approval="Approved", by="alice", approval_description="ok"
    )
    send(sqs, url, package_event(server.registry, arns[0], modifier=True))
    async with harness(database_url, endpoint, url, details=False) as h:
        await h.drain(sqs, url)
    [change] = await history(db, arns[0], "model_approval_status")
    assert change["new_value"] == "Approved"
    assert (change["last_modified_by_arn"], change["approval_description"]) == (None, None)
    assert not await db.fetchval("SELECT count(*) FROM sagemaker.model_package_details")
