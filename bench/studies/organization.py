"""An organization on the stand-in: accounts x regions x groups, mirrored from one process.

The server (``python -m bench.studies.organization serve``) is the benchmark
stand-in once per account and region, behind the calls discovery needs:
Organizations ``ListAccounts`` (20 a page, as AWS pages it), STS ``AssumeRole``
(the access key it hands out names the account), and SageMaker, routed to the
account of the request's access key and the region of its signature.

The measurement (``python -m bench.studies.organization``) opens the service in
a process of its own (``open_service``, as ``syncer run`` does), once for one
target and once for the whole organization, and times four cycles by the
process's CPU clock: a first sync, an unchanged incremental cycle, an unchanged
reconcile, and a refill (the mirror emptied, clients warm). The differences
between the two sizes leave out what any process costs, which gives CPU per
SageMaker call, per stored package and per listed package, and memory per
target.

    python -m bench.studies.organization --accounts 50 --regions us-east-1,eu-west-1
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from bench.database import migrated_template, scratch
from bench.server import READY, BenchStandIn, Shape, build_registry, serving
from standin.sagemaker import Faults
from syncer.logging import configure_logging
from syncer.service import open_service
from syncer.settings import load_settings

ROLE_NAME = "RegistryReader"
MANAGEMENT = "999999999999"  # listed by Organizations, skipped: its registry is not seeded
ORGANIZATIONS = "AWSOrganizationsV20161128."
# A first sync (each target's credentials and client used for the first time),
# unchanged cycles, and a first sync again with every client warm.
CYCLES = (("first", True), ("incremental", False), ("reconcile", True), ("refill", True))
EMPTY_MIRROR = """
DELETE FROM sagemaker.model_package_changes;
DELETE FROM sagemaker.model_packages;
DELETE FROM sagemaker.model_package_groups;
DELETE FROM sagemaker.sync_state;
"""
_SIGNED = re.compile(r"Credential=(?P<key>[A-Z0-9]+)/\d{8}/(?P<region>[a-z0-9-]+)/")


def account_ids(count: int) -> list[str]:
    return [f"{100000000000 + i:012d}" for i in range(1, count + 1)]


def access_key(account: str) -> str:
    """An access key id (20 characters) from which the server reads the account back."""
    return f"ASIA{account}BNCH"


class OrganizationStandIn:
    """A BenchStandIn per (account, region), and Organizations and STS in front of them."""

    def __init__(
        self, accounts: list[str], regions: list[str], shape: Shape, latency: float = 0.0
    ) -> None:
        self.accounts = accounts
        self.targets = {
            (account, region): BenchStandIn(
                build_registry(shape, region=region, account=account),
                Faults(latency_seconds=latency),
            )
            for account in accounts
            for region in regions
        }

    def app(self) -> web.Application:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_post("/", self.handle)
        app.router.add_get("/stats", self.stats)
        app.router.add_post("/reset", self.reset)
        return app

    async def stats(self, _: web.Request) -> web.Response:
        calls = {
            f"{account}/{region}": sum(standin.calls.values())
            for (account, region), standin in self.targets.items()
        }
        return web.json_response({"calls": calls})

    async def reset(self, _: web.Request) -> web.Response:
        for standin in self.targets.values():
            standin.reset_counters()
        return web.json_response({})

    async def handle(self, request: web.Request) -> web.StreamResponse:
        target = request.headers.get("X-Amz-Target", "")
        if not target:
            return await self._sts(request)
        if target.startswith(ORGANIZATIONS):
            return await self._organizations(target[len(ORGANIZATIONS) :], request)
        signed = _SIGNED.search(request.headers.get("Authorization", ""))
        key = signed["key"] if signed else ""
        standin = self.targets.get((key[4:16], signed["region"] if signed else ""))
        if standin is None:
            return web.json_response(
                {"__type": "AccessDeniedException", "message": f"no such target: {key}"},
                status=400,
                content_type="application/x-amz-json-1.1",
            )
        return await standin.handle(request)

    async def _organizations(self, operation: str, request: web.Request) -> web.Response:
        body = json.loads(await request.read() or b"{}")
        if operation != "ListAccounts":
            return web.json_response({"__type": "UnsupportedAPIEndpointException"}, status=400)
        listed = [MANAGEMENT, *self.accounts]
        offset = int(body.get("NextToken") or 0)
        limit = int(body.get("MaxResults") or 20)
        page: dict[str, Any] = {
            "Accounts": [
                {
                    "Id": account,
                    "Arn": f"arn:aws:organizations::{MANAGEMENT}:account/o-bench/{account}",
                    "Name": f"account-{account}",
                    "Email": f"{account}@example.com",
                    "Status": "ACTIVE",
                    "State": "ACTIVE",
                }
                for account in listed[offset : offset + limit]
            ]
        }
        if offset + limit < len(listed):
            page["NextToken"] = str(offset + limit)
        return web.Response(text=json.dumps(page), content_type="application/x-amz-json-1.1")

    async def _sts(self, request: web.Request) -> web.Response:
        form = await request.post()
        action = form.get("Action")
        if action == "AssumeRole":
            account = str(form.get("RoleArn", "")).split(":")[4]
            expires = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
            result = (
                f"<Credentials><AccessKeyId>{access_key(account)}</AccessKeyId>"
                "<SecretAccessKey>bench</SecretAccessKey><SessionToken>bench</SessionToken>"
                f"<Expiration>{expires}</Expiration></Credentials>"
                "<AssumedRoleUser><AssumedRoleId>AROABENCH:registry-sync</AssumedRoleId>"
                f"<Arn>arn:aws:sts::{account}:assumed-role/{ROLE_NAME}/registry-sync</Arn>"
                "</AssumedRoleUser>"
            )
        elif action == "GetCallerIdentity":
            result = (
                f"<Arn>arn:aws:iam::{MANAGEMENT}:user/bench</Arn><UserId>AIDABENCH</UserId>"
                f"<Account>{MANAGEMENT}</Account>"
            )
        else:
            return web.Response(status=400, text="unsupported")
        xml = (
            f'<{action}Response xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
            f"<{action}Result>{result}</{action}Result>"
            "<ResponseMetadata><RequestId>bench</RequestId></ResponseMetadata>"
            f"</{action}Response>"
        )
        return web.Response(text=xml, content_type="text/xml")


async def serve(args: argparse.Namespace) -> None:
    standin = OrganizationStandIn(
        account_ids(args.accounts),
        args.regions.split(","),
        Shape(args.groups, args.versions, args.unversioned),
        args.latency,
    )
    runner = web.AppRunner(standin.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(f"{READY}http://127.0.0.1:{port}", flush=True)
    await asyncio.Event().wait()


@contextlib.contextmanager
def running(accounts: int, regions: str, shape: Shape, latency: float = 0.0) -> Iterator[str]:
    command = [
        sys.executable,
        "-m",
        "bench.studies.organization",
        "serve",
        f"--accounts={accounts}",
        f"--regions={regions}",
        f"--groups={shape.groups}",
        f"--versions={shape.versions}",
        f"--unversioned={shape.unversioned}",
        f"--latency={latency}",
    ]
    with serving(command) as (endpoint, _):
        yield endpoint


def _post(url: str) -> None:
    request = urllib.request.Request(url, data=b"{}", method="POST")
    urllib.request.urlopen(request, timeout=30).close()


def _calls(endpoint: str) -> dict[str, int]:
    with urllib.request.urlopen(endpoint + "/stats", timeout=30) as response:
        return json.load(response)["calls"]  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Cycle:
    status: str
    seconds: float
    cpu_seconds: float  # this process's, during the cycle only
    api_calls: int
    inserted: int
    listed: int
    calls_per_target: list[int]  # as the server counted them, sorted


@dataclass(frozen=True)
class Measured:
    targets: int
    setup_cpu_seconds: float  # discovery, clients and credentials of every target
    rss_mb_before: float  # the process, before the service opened
    rss_mb_open: float  # once every target's client was open
    rss_mb_peak: float
    cycles: dict[str, Cycle]


def _rss_mb(field: str = "VmRSS") -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(field)


async def measure(
    accounts: int, regions: str, shape: Shape, template: str, latency: float = 0.0
) -> Measured:
    """The service in this process: open it (discovery, a client per target), then a
    first sync, an unchanged incremental cycle and an unchanged reconcile, each
    timed by this process's CPU clock alone."""
    cycles: dict[str, Cycle] = {}
    with running(accounts, regions, shape, latency) as endpoint:
        os.environ.update(
            AWS_ENDPOINT_URL=endpoint,
            AWS_ACCESS_KEY_ID="bench",
            AWS_SECRET_ACCESS_KEY="bench",
            AWS_EC2_METADATA_DISABLED="true",
        )
        async with scratch(template) as dsn:
            settings = load_settings(
                database_url=dsn,
                organization_role_name=ROLE_NAME,
                regions=regions.split(","),
                skip_accounts=[MANAGEMENT],
                max_requests_per_second=100000,
                http_port=0,
            )
            rss_before = _rss_mb()
            started = time.process_time()
            async with open_service(settings) as service:
                setup = time.process_time() - started
                rss_open = _rss_mb()
                for name, full in CYCLES:
                    if name == "refill":  # the mirror emptied: a first sync with warm clients
                        await service.store.pool.execute(EMPTY_MIRROR)
                    _post(endpoint + "/reset")
                    cpu, wall = time.process_time(), time.perf_counter()
                    result = await service.syncer.run_cycle(full=full, wait=True)
                    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                    if result.status != "succeeded":
                        raise RuntimeError(f"{name}: {result.status}: {result.errors[:3]}")
                    t = result.totals
                    cycles[name] = Cycle(
                        result.status,
                        wall,
                        cpu,
                        t.api_calls,
                        t.packages_inserted,
                        t.packages_listed,
                        sorted(_calls(endpoint).values()),
                    )
                targets = len(service.sources)
    return Measured(targets, setup, rss_before, rss_open, _rss_mb("VmHWM"), cycles)


def report(small: Measured, large: Measured, shape: Shape) -> str:
    def delta(name: str, value: str) -> float:
        return float(getattr(large.cycles[name], value) - getattr(small.cycles[name], value))

    per_call = delta("incremental", "cpu_seconds") / delta("incremental", "api_calls")
    stored = (delta("refill", "cpu_seconds") - per_call * delta("refill", "api_calls")) / delta(
        "refill", "inserted"
    )
    listed = (
        delta("reconcile", "cpu_seconds") - per_call * delta("reconcile", "api_calls")
    ) / delta("reconcile", "listed")
    warm_up = (delta("first", "cpu_seconds") - delta("refill", "cpu_seconds")) / (
        large.targets - small.targets
    )
    targets = large.targets - small.targets
    memory = (large.rss_mb_open - large.rss_mb_before) - (small.rss_mb_open - small.rss_mb_before)
    setup = (large.setup_cpu_seconds - small.setup_cpu_seconds) / targets
    lines = [
        f"shape per target: {shape.groups} groups x {shape.versions} versions "
        f"+ {shape.unversioned} unversioned = {shape.packages} packages",
        "",
        "| targets | cycle | status | seconds | CPU s | API calls "
        "| calls per target (min/median/max) | inserted | listed |",
        "| ---: | --- | --- | ---: | ---: | ---: | --- | ---: | ---: |",
    ]
    for m in (small, large):
        for name, c in m.cycles.items():
            calls = c.calls_per_target
            lines.append(
                f"| {m.targets} | {name} | {c.status} | {c.seconds:.2f} | {c.cpu_seconds:.2f} | "
                f"{c.api_calls} | {calls[0]}/{statistics.median(calls):.0f}/{calls[-1]} | "
                f"{c.inserted} | {c.listed} |"
            )
    lines += [
        "",
        "| targets | opening: CPU s | RSS before MB | RSS open MB | peak RSS MB |",
        "| ---: | ---: | ---: | ---: | ---: |",
        *(
            f"| {m.targets} | {m.setup_cpu_seconds:.2f} | {m.rss_mb_before:.0f} | "
            f"{m.rss_mb_open:.0f} | {m.rss_mb_peak:.0f} |"
            for m in (small, large)
        ),
        "",
        f"CPU per SageMaker call (unchanged incremental cycles): {per_call * 1000:.2f} ms",
        f"CPU per stored package (refill, calls deducted): {stored * 1000:.3f} ms",
        f"a target's first cycle beyond that (credentials, warm-up): {warm_up * 1000:.0f} ms",
        f"CPU per listed unchanged package (reconcile, calls deducted): {listed * 1000:.3f} ms",
        f"opening a target (credentials, client), once per process: {setup * 1000:.0f} ms CPU",
        f"memory per target (RSS with every client open): {memory / targets:.2f} MB",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.studies.organization", description=__doc__
    )
    parser.add_argument("mode", nargs="?", choices=("measure", "one", "serve"), default="measure")
    parser.add_argument("--accounts", type=int, default=50)
    parser.add_argument("--regions", default="us-east-1,eu-west-1")
    parser.add_argument("--groups", type=int, default=20)
    parser.add_argument("--versions", type=int, default=10)
    parser.add_argument("--unversioned", type=int, default=2)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to each call")
    return parser.parse_args(argv)


def _measured(data: dict[str, Any]) -> Measured:
    cycles = {name: Cycle(**cycle) for name, cycle in data.pop("cycles").items()}
    return Measured(**data, cycles=cycles)


def measure_in_a_process(
    accounts: int, regions: str, shape: Shape, latency: float = 0.0
) -> Measured:
    """``measure`` in a process of its own: its memory starts from nothing every time."""
    command = [
        sys.executable,
        "-m",
        "bench.studies.organization",
        "one",
        f"--accounts={accounts}",
        f"--regions={regions}",
        f"--groups={shape.groups}",
        f"--versions={shape.versions}",
        f"--unversioned={shape.unversioned}",
        f"--latency={latency}",
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"bench.studies.organization one: {done.stderr[-2000:]}")
    return _measured(json.loads(done.stdout.splitlines()[-1]))


async def measure_one(args: argparse.Namespace) -> Measured:
    shape = Shape(args.groups, args.versions, args.unversioned)
    async with migrated_template() as template:
        return await measure(args.accounts, args.regions, shape, template, args.latency)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.mode == "serve":
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(args))
        return
    configure_logging("WARNING", "console")
    if args.mode == "one":
        print(json.dumps(dataclasses.asdict(asyncio.run(measure_one(args)))))
        return
    shape = Shape(args.groups, args.versions, args.unversioned)
    small = measure_in_a_process(1, args.regions.split(",")[0], shape, args.latency)
    large = measure_in_a_process(args.accounts, args.regions, shape, args.latency)
    print(report(small, large, shape))


if __name__ == "__main__":
    main()
