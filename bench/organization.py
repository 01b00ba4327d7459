"""An organization on the stand-in: accounts x regions x groups, mirrored from one process.

The server (``python -m bench.organization serve``) is the benchmark stand-in
once per account and region, behind the calls discovery needs: Organizations
``ListAccounts`` (20 a page, as AWS pages it), STS ``AssumeRole`` (the access
key it hands out names the account), and SageMaker, routed to the account of
the request's access key and the region of its signature.

The measurement (``python -m bench.organization``) runs the real ``syncer once``
three times against a small organization and a large one: a first sync (every
package stored), an unchanged incremental cycle and an unchanged reconcile.
The differences between the two sizes leave out what any process costs (start-up,
imports, migrations check), which gives CPU per SageMaker call, per stored
package and per listed package, and memory per target (docs/scale.md).

    python -m bench.organization --accounts 50 --regions us-east-1,eu-west-1 --groups 20
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from bench.database import migrated_template, scratch
from bench.server import HISTORY_SECONDS, READY, BenchStandIn, Shape
from bench.service import Run, syncer_once
from syncer.logging import configure_logging
from tests.standin import Registry, seed

ROLE_NAME = "RegistryReader"
MANAGEMENT = "999999999999"  # listed by Organizations, skipped: its registry is not seeded
ORGANIZATIONS = "AWSOrganizationsV20161128."
_SIGNED = re.compile(r"Credential=(?P<key>[A-Z0-9]+)/\d{8}/(?P<region>[a-z0-9-]+)/")


def account_ids(count: int) -> list[str]:
    return [f"{100000000000 + i:012d}" for i in range(1, count + 1)]


def access_key(account: str) -> str:
    """An access key id (20 characters) from which the server reads the account back."""
    return f"ASIA{account}BNCH"


def _clock(start: float, step: float) -> Callable[[], float]:
    """Creation times one step apart over the history, as bench.server seeds them."""
    ticks = itertools.count()
    return lambda: round(start + next(ticks) * step, 3)


class OrganizationStandIn:
    """A BenchStandIn per (account, region), and Organizations and STS in front of them."""

    def __init__(self, accounts: list[str], regions: list[str], shape: Shape) -> None:
        self.accounts = accounts
        start = time.time() - HISTORY_SECONDS
        step = HISTORY_SECONDS / max(1, shape.packages + shape.groups)
        self.targets: dict[tuple[str, str], BenchStandIn] = {}
        for account in accounts:
            for region in regions:
                registry = Registry(account, region, clock=_clock(start, step))
                seed(registry, shape.groups, shape.versions, shape.unversioned)
                self.targets[(account, region)] = BenchStandIn(registry)

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
    )
    runner = web.AppRunner(standin.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(f"{READY}http://127.0.0.1:{port}", flush=True)
    await asyncio.Event().wait()


@contextlib.contextmanager
def running(accounts: int, regions: str, shape: Shape) -> Iterator[str]:
    command = [
        sys.executable,
        "-m",
        "bench.organization",
        "serve",
        f"--accounts={accounts}",
        f"--regions={regions}",
        f"--groups={shape.groups}",
        f"--versions={shape.versions}",
        f"--unversioned={shape.unversioned}",
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONUNBUFFERED="1")
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith(READY):
            raise RuntimeError(f"bench.organization did not start: {line!r}")
        yield line[len(READY) :].strip()
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _post(url: str) -> None:
    request = urllib.request.Request(url, data=b"{}", method="POST")
    urllib.request.urlopen(request, timeout=30).close()


def _calls(endpoint: str) -> dict[str, int]:
    with urllib.request.urlopen(endpoint + "/stats", timeout=30) as response:
        return json.load(response)["calls"]  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Measured:
    targets: int
    packages: int
    first: Run
    incremental: Run
    reconcile: Run
    calls_per_target: dict[str, list[int]]  # by run: each target's SageMaker calls


async def measure(accounts: int, regions: str, shape: Shape, template: str) -> Measured:
    settings = {
        "organization_role_name": ROLE_NAME,
        "regions": regions,
        "skip_accounts": MANAGEMENT,
        "concurrency": "16",
    }
    targets = accounts * len(regions.split(","))
    per_target: dict[str, list[int]] = {}
    with running(accounts, regions, shape) as endpoint:
        async with scratch(template) as dsn:
            runs = {}
            for name, full in (("first", True), ("incremental", False), ("reconcile", True)):
                _post(endpoint + "/reset")
                runs[name] = await syncer_once(dsn, endpoint, full=full, **settings)
                if runs[name].status != "succeeded":
                    raise RuntimeError(f"{name}: {runs[name].status}: {runs[name].stderr_tail}")
                per_target[name] = sorted(_calls(endpoint).values())
    return Measured(
        targets,
        targets * shape.packages,
        runs["first"],
        runs["incremental"],
        runs["reconcile"],
        per_target,
    )


def report(small: Measured, large: Measured, shape: Shape) -> str:
    def slope(value: str, run: str, per: str) -> float:
        a, b = getattr(small, run), getattr(large, run)
        return float(getattr(b, value) - getattr(a, value)) / float(
            getattr(b, per) - getattr(a, per)
        )

    per_call = slope("cpu_seconds", "incremental", "api_calls")

    def per_package(run: str, counted: str) -> float:
        a, b = getattr(small, run), getattr(large, run)
        cpu = (b.cpu_seconds - a.cpu_seconds) - per_call * (b.api_calls - a.api_calls)
        return float(cpu / (getattr(b, counted) - getattr(a, counted)))

    stored = per_package("first", "packages_inserted")
    listed = per_package("reconcile", "packages_listed")
    memory = (large.incremental.peak_rss_mb - small.incremental.peak_rss_mb) / (
        large.targets - small.targets
    )
    lines = [
        f"shape per target: {shape.groups} groups x {shape.versions} versions "
        f"+ {shape.unversioned} unversioned = {shape.packages} packages",
        "",
        "| targets | run | status | cycle s | process CPU s | peak RSS MB | API calls "
        "| calls per target (min/median/max) | inserted | listed |",
        "| ---: | --- | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |",
    ]
    for m in (small, large):
        for name in ("first", "incremental", "reconcile"):
            r: Run = getattr(m, name)
            calls = m.calls_per_target[name]
            lines.append(
                f"| {m.targets} | {name} | {r.status} | {r.cycle_seconds:.2f} | "
                f"{r.cpu_seconds:.2f} | {r.peak_rss_mb:.0f} | {r.api_calls} | "
                f"{calls[0]}/{statistics.median(calls):.0f}/{calls[-1]} | "
                f"{r.packages_inserted} | {r.packages_listed} |"
            )
    lines += [
        "",
        f"CPU per SageMaker call (unchanged incremental cycles): {per_call * 1000:.2f} ms",
        f"CPU per stored package (first sync, calls deducted): {stored * 1000:.3f} ms",
        f"CPU per listed unchanged package (reconcile, calls deducted): {listed * 1000:.3f} ms",
        f"memory per target (peak RSS, incremental cycles): {memory:.2f} MB",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.organization", description=__doc__)
    parser.add_argument("mode", nargs="?", choices=("measure", "serve"), default="measure")
    parser.add_argument("--accounts", type=int, default=50)
    parser.add_argument("--regions", default="us-east-1,eu-west-1")
    parser.add_argument("--groups", type=int, default=20)
    parser.add_argument("--versions", type=int, default=10)
    parser.add_argument("--unversioned", type=int, default=2)
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> str:
    shape = Shape(args.groups, args.versions, args.unversioned)
    async with migrated_template() as template:
        small = await measure(1, args.regions.split(",")[0], shape, template)
        large = await measure(args.accounts, args.regions, shape, template)
    return report(small, large, shape)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.mode == "serve":
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(args))
        return
    configure_logging("WARNING", "console")
    print(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
