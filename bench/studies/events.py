"""Events from an SQS queue: how soon a change reaches the mirror, what it costs
SageMaker, and whether many events in any order leave the mirror right.

    python -m bench.studies.events [--groups 20 --versions 25 --latency-events 200
        --rate 5 --events 1000 --duplicates 0.2 --spread 0.5 --seed 1]

Runs ``syncer run`` in a subprocess with SYNCER_EVENTS_QUEUE_URL pointing at
moto's SQS (in a thread here) and the test stand-in for SageMaker (a thread
too), at an interval of 300 s: once its first cycle has succeeded, no cycle
runs during the measurement.

1. **Latency**: ``--latency-events`` approvals, one every 1/``--rate``
   seconds, each on another package: the stand-in's registry changes, the
   event SageMaker would send (standin/events.py) is sent to the queue, and a
   watcher polls the mirror every 5 ms for the new value. Latency is from the
   send to the row showing it (an upper bound on the commit).
2. **Order**: ``--events`` events at once, of which ``--duplicates`` are
   copies: state changes (approval, stage) of random packages made
   ``--spread`` seconds apart on the registry's clock (so some share a
   second), shuffled and sent. Once the queue is empty the mirror is compared
   with the source, field by field.

Prints the latency's percentiles, the SageMaker calls of each phase by
operation with the calls per event applied, the ties settled, and the check's
result. The database server is SYNCER_TEST_DATABASE_URL's (default: postgres
on 127.0.0.1:5432); a scratch database is created and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import statistics
import time
from collections import Counter
from typing import Any

import asyncpg

from bench.database import migrated_template, scratch
from bench.server import HISTORY_SECONDS
from bench.service import syncer_run
from standin.environment import boto_client
from standin.events import package_event, queue_counts
from standin.mirror import assert_same, mirror_packages, source_packages
from standin.sagemaker import Registry, StandIn, serve_in_thread
from syncer.logging import configure_logging

POLL_SECONDS = 0.005
FIRST_SUCCESS = "SELECT max(run_id) FROM sagemaker.sync_runs WHERE status = 'succeeded'"


class Clock:
    """The registry's clock: the wall clock, or a moment the bench sets, so that
    changes land in chosen seconds."""

    def __init__(self) -> None:
        self.fixed: float | None = None

    def __call__(self) -> float:
        return round(time.time() if self.fixed is None else self.fixed, 3)


def seeded(groups: int, versions: int, clock: Clock) -> Registry:
    registry = Registry(clock=clock)
    start = time.time() - HISTORY_SECONDS
    step = HISTORY_SECONDS / (groups * (versions + 1) + 1)
    moment = start
    for g in range(groups):
        moment += step
        registry.create_group(f"model-{g:04d}", created=round(moment, 3))
        for _ in range(versions):
            moment += step
            registry.create_package(f"model-{g:04d}", created=round(moment, 3))
    return registry


def calls(standin: StandIn) -> Counter[str]:
    """SageMaker calls so far, by operation (STS left out)."""
    return Counter({k: v for k, v in standin.calls.items() if not k.startswith("sts:")})


async def latency(
    args: argparse.Namespace,
    registry: Registry,
    sqs: Any,
    url: str,
    conn: asyncpg.Connection,
    rng: random.Random,
) -> list[float]:
    """Send an approval's event every 1/rate seconds; the time to each row's change."""
    pending: dict[str, tuple[str, float]] = {}
    seconds: list[float] = []
    sent_all = asyncio.Event()

    async def watch() -> None:
        while not (sent_all.is_set() and not pending):
            if pending:
                rows = await conn.fetch(
                    "SELECT model_package_arn, model_approval_status FROM sagemaker.model_packages"
                    " WHERE model_package_arn = ANY($1::text[])",
                    list(pending),
                )
                seen = time.perf_counter()
                for arn, approval in rows:
                    if approval == pending[arn][0]:
                        seconds.append(seen - pending.pop(arn)[1])
            await asyncio.sleep(POLL_SECONDS)

    watcher = asyncio.create_task(watch(), name="watcher")
    targets = rng.sample(sorted(registry.packages), args.latency_events)
    began = time.perf_counter()
    for i, arn in enumerate(targets):
        await asyncio.sleep(max(0.0, began + i / args.rate - time.perf_counter()))
        new = "Rejected" if registry.packages[arn].approval == "Approved" else "Approved"
        registry.update_package(arn, approval=new)
        body = json.dumps(package_event(registry, arn))
        pending[arn] = (new, time.perf_counter())
        await asyncio.to_thread(sqs.send_message, QueueUrl=url, MessageBody=body)
    sent_all.set()
    async with asyncio.timeout(120):
        await watcher
    return seconds


async def order(
    args: argparse.Namespace,
    registry: Registry,
    clock: Clock,
    sqs: Any,
    url: str,
    rng: random.Random,
) -> tuple[int, float]:
    """Many changes' events, duplicated and shuffled, sent at once; (events, seconds to drain)."""
    distinct = round(args.events * (1 - args.duplicates))
    base = time.time()
    arns = sorted(registry.packages)
    events = []
    for i in range(distinct):
        clock.fixed = base + i * args.spread
        arn = rng.choice(arns)
        registry.update_package(
            arn,
            approval=rng.choice(["Approved", "Rejected", "PendingManualApproval"]),
            life_cycle=rng.choice(
                [
                    None,
                    {"Stage": "Staging", "StageStatus": "Approved"},
                    {"Stage": "Production", "StageStatus": "Approved"},
                ]
            ),
        )
        events.append(json.dumps(package_event(registry, arn)))
    clock.fixed = None
    events += [rng.choice(events) for _ in range(args.events - distinct)]
    rng.shuffle(events)
    began = time.perf_counter()
    for start in range(0, len(events), 10):
        entries = [
            {"Id": str(i), "MessageBody": body} for i, body in enumerate(events[start : start + 10])
        ]
        await asyncio.to_thread(sqs.send_message_batch, QueueUrl=url, Entries=entries)
    async with asyncio.timeout(600):
        while True:
            if not sum(await asyncio.to_thread(queue_counts, sqs, url)):
                return len(events), time.perf_counter() - began
            await asyncio.sleep(0.05)


async def applied(conn: asyncpg.Connection) -> dict[str, int]:
    """Rows whose order an event (or a description) set."""
    rows = await conn.fetch(
        "SELECT applied_by, count(*) FROM sagemaker.model_package_last_modified GROUP BY 1"
    )
    return {r[0]: r[1] for r in rows}


async def first_success(conn: asyncpg.Connection) -> None:
    async with asyncio.timeout(120):
        while True:
            if await conn.fetchval(FIRST_SUCCESS) is not None:
                return
            await asyncio.sleep(0.05)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def main(args: argparse.Namespace) -> None:
    from moto.server import ThreadedMotoServer

    rng = random.Random(args.seed)
    clock = Clock()
    registry = seeded(args.groups, args.versions, clock)
    standin = StandIn(registry)
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    sqs = boto_client(f"http://{host}:{port}", "sqs")
    url = sqs.create_queue(QueueName="registry-sync-events")["QueueUrl"]
    settings = {"events_queue_url": url, "interval_seconds": "300"}
    try:
        with serve_in_thread(standin) as endpoint:
            async with migrated_template() as template, scratch(template) as dsn:
                conn = await asyncpg.connect(dsn)
                with syncer_run(dsn, endpoint, **settings):
                    await first_success(conn)
                    await asyncio.sleep(1)  # the consumer's first long poll
                    before = calls(standin)
                    seconds = await latency(args, registry, sqs, url, conn, rng)
                    latency_calls = calls(standin) - before
                    before = calls(standin)
                    sent, drained = await order(args, registry, clock, sqs, url, rng)
                    order_calls = calls(standin) - before
                    by = await applied(conn)
                    assert_same(await mirror_packages(conn), source_packages(boto_client(endpoint)))
                    runs = await conn.fetchval("SELECT count(*) FROM sagemaker.sync_runs")
                await conn.close()
    finally:
        moto.stop()
    print(
        f"registry: {args.groups} groups x {args.versions} versions; interval 300 s; "
        f"{runs} cycle(s) in all"
    )
    print(
        f"latency, send to row ({len(seconds)} events at {args.rate}/s): "
        f"median {statistics.median(seconds):.3f} s, p95 {percentile(seconds, 0.95):.3f} s, "
        f"max {max(seconds):.3f} s"
    )
    print(
        f"  SageMaker calls: {dict(latency_calls) or 'none'} "
        f"({sum(latency_calls.values()) / len(seconds):.3f} per event applied)"
    )
    describes = order_calls.get("DescribeModelPackage", 0)
    print(
        f"order: {sent} events ({args.duplicates:.0%} duplicates, shuffled, changes "
        f"{args.spread} s apart) drained in {drained:.1f} s ({sent / drained:.0f} events/s)"
    )
    print(
        f"  SageMaker calls: {dict(order_calls) or 'none'} "
        f"({sum(order_calls.values()) / sent:.3f} per event; {describes} ties settled)"
    )
    print(f"  packages last ordered by: {by}")
    print("  the mirror equals the source, field by field")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--groups", type=int, default=20)
    parser.add_argument("--versions", type=int, default=25)
    parser.add_argument("--latency-events", type=int, default=200)
    parser.add_argument("--rate", type=float, default=5.0, help="latency events per second")
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--duplicates", type=float, default=0.2)
    parser.add_argument(
        "--spread", type=float, default=0.5, help="registry seconds between changes"
    )
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args()


if __name__ == "__main__":
    configure_logging("WARNING", "console")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request
    asyncio.run(main(parse_args()))
