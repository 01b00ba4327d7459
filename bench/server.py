"""The benchmark's SageMaker: the test stand-in, seeded at scale, in a process of its own.

The server runs in a subprocess so that its JSON encoding does not share a
GIL with the code being measured (two cores: one for the stand-in and the
client, PostgreSQL on the other, roughly). It adds what a benchmark needs:
per-scope indexes for the listings, counters over HTTP (``GET /stats``,
``POST /reset``) and faults that can be switched between phases
(``POST /faults``).

    python -m bench.server --groups 500 --versions 40 --unversioned 10 --latency 0.02
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import dataclasses
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
from aiohttp import web

from standin.sagemaker import (
    ACCOUNT,
    REGION,
    Faults,
    Package,
    Registry,
    StandIn,
    as_epoch,
    seed,
    seed_deployments,
)

# Seeded groups and packages are created one after the other over this much
# history, so a group's versions are minutes or hours apart, as in a real
# registry, and an incremental listing (from the watermark minus the 300 s
# lookback) re-reads only each group's newest version.
HISTORY_SECONDS = 90 * 86400
READY = "bench.server listening on "


@dataclass(frozen=True)
class Shape:
    """The registry to serve: groups x versions, plus unversioned packages."""

    groups: int
    versions: int
    unversioned: int = 10

    @property
    def packages(self) -> int:
        return self.groups * self.versions + self.unversioned

    def minimum_calls(self, page_size: int = 100) -> int:
        """Calls of a full listing: the group pages, and the account's package pages."""
        group_pages = max(1, -(-self.groups // page_size))
        return group_pages + max(1, -(-self.packages // page_size))


def build_registry(
    shape: Shape,
    start: float | None = None,
    region: str = REGION,
    account: str = ACCOUNT,
    *,
    models: int = 0,
    endpoints: int = 0,
) -> Registry:
    """The test suite's seeded registry, created over HISTORY_SECONDS from ``start``
    (by default, that long ago), built in Python; ``models`` models on ``endpoints``
    endpoints last (an endpoint takes a configuration and itself)."""
    events = shape.packages + shape.groups + models + 2 * endpoints
    step = HISTORY_SECONDS / events
    first = time.time() - HISTORY_SECONDS if start is None else start
    clock = iter(first + i * step for i in range(events + 1))
    registry = Registry(account, region, clock=lambda: round(next(clock), 3))
    seed(registry, shape.groups, shape.versions, shape.unversioned)
    seed_deployments(registry, models, endpoints)
    # What a benchmark creates or updates through the API from here on happens now.
    registry.clock = lambda: round(time.time(), 3)
    return registry


class BenchStandIn(StandIn):
    """The stand-in with each scope's packages indexed, and a control API.

    The test server filters every package of the registry on every listing
    call, which is what a test wants (any mutation shows at once) but makes a
    200,000-package listing cost the server O(registry) per call: the
    benchmark would measure the stand-in. Here each scope's packages are kept
    in a list, rebuilt when the number of packages changes (the benchmark
    does not mutate the registry while it is being listed), and only the
    returned page is turned into summaries. The change feed's Search is
    served the same way, from the packages kept in LastModifiedTime order:
    sorting the whole registry on the stand-in's one thread would hold up
    every other call at the start of each cycle, which SageMaker does not.
    Queries the indexes do not cover fall back to the test server's code.
    """

    def __init__(self, registry: Registry, faults: Faults | None = None) -> None:
        super().__init__(registry, faults)
        self._index: dict[str | None, list[Package]] = {}
        self._by_modification: list[Package] = []
        self._modification_times: list[float] = []
        self._by_creation: list[Package] = []
        self._creation_times: list[float] = []
        self._indexed_count: tuple[int, int] = (-1, -1)
        with registry.lock:  # built before the first call, which is timed
            self._reindex()

    def app(self) -> web.Application:
        app = super().app()
        app.router.add_get("/stats", self.stats)
        app.router.add_post("/reset", self.reset)
        app.router.add_post("/faults", self.set_faults)
        return app

    async def stats(self, _: web.Request) -> web.Response:
        return web.json_response(
            {
                "calls": dict(self.calls),
                "outcomes": dict(self.outcomes),
            }
        )

    async def reset(self, _: web.Request) -> web.Response:
        self.reset_counters()
        return web.json_response({})

    async def set_faults(self, request: web.Request) -> web.Response:
        options = await request.json()
        self.faults = dataclasses.replace(Faults(), **options)
        return web.json_response({})

    async def handle(self, request: web.Request) -> web.StreamResponse:
        response = await super().handle(request)
        # The request log is for tests that assert on bodies; here it would only grow.
        self.requests.clear()
        return response

    def _reindex(self) -> None:
        """Rebuild the indexes if packages were added, changed or removed (under the lock)."""
        count = (len(self.registry.packages), self.registry.mutations)
        if count == self._indexed_count:
            return
        index: dict[str | None, list[Package]] = {}
        for package in self.registry.packages.values():
            index.setdefault(package.group, []).append(package)
        # The test server's Search order: LastModifiedTime, then ARN.
        ordered = sorted(self.registry.packages.values(), key=lambda p: (p.last_modified, p.arn))
        self._index, self._indexed_count = index, count
        self._by_modification = ordered
        self._modification_times = [p.last_modified for p in ordered]
        created = sorted(self.registry.packages.values(), key=lambda p: (p.created, p.arn))
        self._by_creation = created
        self._creation_times = [p.created for p in created]

    def _scope(self, group: str | None) -> list[Package]:
        with self.registry.lock:
            self._reindex()
            return self._index.get(group, [])

    def op_ListModelPackages(self, body: dict[str, Any]) -> dict[str, Any]:
        group = body.get("ModelPackageGroupName")
        kind = body.get("ModelPackageType") or "Unversioned"
        if (
            (group and (group.startswith("arn:") or group in self.faults.fail_groups))
            or body.get("ModelApprovalStatus")
            or body.get("NameContains")
            or body.get("SortOrder") == "Descending"
            or body.get("SortBy") not in (None, "CreationTime")
        ):
            return super().op_ListModelPackages(body)
        now = time.time()
        if group or kind == "Unversioned":
            packages = [
                p
                for p in self._scope(group)
                if p.visible_at <= now and self._window(body, p.created)
            ]
            packages.sort(key=lambda p: (p.created, p.arn))
            scope = group or "(unversioned)"
        else:  # the account's listing: a slice of the creation-time index
            with self.registry.lock:
                self._reindex()
                ordered = self._in_range(
                    self._by_creation,
                    self._creation_times,
                    after=body.get("CreationTimeAfter"),
                    before=body.get("CreationTimeBefore"),
                )
            packages = [
                p
                for p in ordered
                if p.visible_at <= now and (kind == "Both" or p.group is not None)
            ]
            scope = "(account)"
        key = "ModelPackageSummaryList"
        result = self._page(packages, body, key, scope)  # type: ignore[arg-type]
        result[key] = [p.summary() for p in result[key]]
        return result

    @staticmethod
    def _in_range(
        ordered: list[Package],
        times: list[float],
        *,
        after: Any = None,
        at_or_after: Any = None,
        before: Any = None,
    ) -> list[Package]:
        """The slice of a time-ordered index within strict or inclusive bounds."""
        lo, hi = 0, len(ordered)
        if after is not None:
            lo = max(lo, bisect.bisect_right(times, as_epoch(after)))
        if at_or_after is not None:
            lo = max(lo, bisect.bisect_left(times, as_epoch(at_or_after)))
        if before is not None:
            hi = min(hi, bisect.bisect_left(times, as_epoch(before)))
        return ordered[lo:hi]

    def op_Search(self, body: dict[str, Any]) -> dict[str, Any]:
        """The change feed's searches (by LastModifiedTime) and the details' (by
        CreationTime): every package, or those within bounds of the sort key."""
        filters = (body.get("SearchExpression") or {}).get("Filters") or []
        by = body.get("SortBy")
        # Served here: bounds on the sort key only (GreaterThan, GreaterThanOrEqualTo,
        # LessThan), at most one of each.
        bounds = {f.get("Operator"): f.get("Value") for f in filters if f.get("Name") == by}
        if (
            body.get("Resource") != "ModelPackage"
            or by not in ("LastModifiedTime", "CreationTime")
            or len(bounds) != len(filters)
            or not set(bounds) <= {"GreaterThan", "GreaterThanOrEqualTo", "LessThan"}
            or (self.faults.search_blind and bounds)
        ):
            return super().op_Search(body)
        with self.registry.lock:
            self._reindex()
            ordered, times = (
                (self._by_modification, self._modification_times)
                if by == "LastModifiedTime"
                else (self._by_creation, self._creation_times)
            )
            window = self._in_range(
                ordered,
                times,
                after=bounds.get("GreaterThan"),
                at_or_after=bounds.get("GreaterThanOrEqualTo"),
                before=bounds.get("LessThan"),
            )
            found = [p for p in window if self.indexed(p)]
            if body.get("SortOrder") == "Descending":
                found.reverse()
            return self._search_page(found, body)


# ---------------------------------------------------------------- the process
def faults_from(args: argparse.Namespace) -> Faults:
    return Faults(
        latency_seconds=args.latency,
        rate_limit_per_second=args.rate_limit,
        error_rate=args.error_rate,
        seed=args.seed,
    )


async def serve(args: argparse.Namespace) -> None:
    shape = Shape(args.groups, args.versions, args.unversioned)
    registry = build_registry(shape, models=args.models, endpoints=args.endpoints)
    standin = BenchStandIn(registry, faults_from(args))
    runner = web.AppRunner(standin.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, args.host, args.port)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(f"{READY}http://{args.host}:{port}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--groups", type=int, default=500)
    parser.add_argument("--versions", type=int, default=40)
    parser.add_argument("--unversioned", type=int, default=10)
    parser.add_argument("--models", type=int, default=0, help="models made from versions")
    parser.add_argument("--endpoints", type=int, default=0, help="endpoints, one model each")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to each call")
    parser.add_argument("--rate-limit", type=float, default=None, help="requests/s token bucket")
    parser.add_argument("--error-rate", type=float, default=0.0, help="share answered 500/503")
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(parse_args(argv)))


# ---------------------------------------------------------------- the client side
class Server:
    """A running ``bench.server`` subprocess: its endpoint, counters and faults."""

    def __init__(self, endpoint: str, process: subprocess.Popen[str]) -> None:
        self.endpoint = endpoint
        self.process = process

    def _post(self, path: str, payload: dict[str, Any]) -> Any:
        request = urllib.request.Request(
            self.endpoint + path,
            data=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)

    def stats(self) -> dict[str, dict[str, int]]:
        with urllib.request.urlopen(self.endpoint + "/stats", timeout=30) as response:
            return json.load(response)  # type: ignore[no-any-return]

    def reset(self) -> None:
        self._post("/reset", {})

    def set_faults(self, **options: Any) -> None:
        self._post("/faults", options)

    def calls(self) -> dict[str, int]:
        """SageMaker requests since the last reset, by operation (STS left out)."""
        return {op: n for op, n in self.stats()["calls"].items() if not op.startswith("sts:")}

    def sagemaker_calls(self) -> int:
        return sum(self.calls().values())

    def client(self) -> Any:
        """A boto3 SageMaker client of this server."""
        return boto3.client(
            "sagemaker",
            region_name=REGION,
            endpoint_url=self.endpoint,
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        )


@contextlib.contextmanager
def running(
    shape: Shape, *, models: int = 0, endpoints: int = 0, **faults: Any
) -> Iterator[Server]:
    """Start ``python -m bench.server`` for ``shape`` (and ``models`` models on
    ``endpoints`` endpoints) and stop it afterwards.

    ``faults`` are Faults fields (latency_seconds, rate_limit_per_second, ...),
    applied once the registry is built.
    """
    command = [
        sys.executable,
        "-m",
        "bench.server",
        f"--groups={shape.groups}",
        f"--versions={shape.versions}",
        f"--unversioned={shape.unversioned}",
        f"--models={models}",
        f"--endpoints={endpoints}",
    ]
    with serving(command) as (endpoint, process):
        server = Server(endpoint, process)
        server.set_faults(**faults)
        yield server


@contextlib.contextmanager
def serving(command: list[str]) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """Run a stand-in process until its READY line, yield (endpoint, process), stop it after."""
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONUNBUFFERED="1")
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith(READY):
            raise RuntimeError(f"{' '.join(command[1:3])} did not start: {line!r}")
        yield line[len(READY) :].strip(), process
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


if __name__ == "__main__":
    main()
