"""Scenario 7: what reconciles, first syncs and quiet cycles cost, beside a previous release.

One stand-in (20 ms a call) per registry shape: 5,000 groups x 2 versions and
500 groups x 40, each with 10 unversioned packages. For the code here, and
for another checkout of the service when ``--previous PATH`` names one (run
with the same interpreter, on databases of its own), in the same run: a first
sync with governance details and one without (summaries only), an
incremental cycle with nothing changed before any reconcile, a reconcile,
and a quiet incremental cycle after it. Calls are the stand-in's own counts;
the mirror is compared with the source after the reconcile, field by field.
``python -m bench --only 7 [--previous ../release]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bench import checks
from bench.database import scratch
from bench.report import Row, progress, seconds
from bench.server import Server, Shape, running
from bench.service import Run, syncer_once

if TYPE_CHECKING:
    from bench.scenarios import Context

LATENCY = 0.020
# The listings' and the details' costs: the deployments' own (at most one call a
# quiet cycle, (models + endpoints)/100 + 2 a reconcile) are bench.studies.deployments'.
SETTINGS = {"deployments": "false"}


@dataclass(frozen=True)
class Measured:
    first: Run
    first_calls: int
    summaries_only: Run
    before_reconcile_calls: int
    reconcile: Run
    reconcile_calls: int
    quiet_calls: int
    mirrored: int


async def measure(server: Server, template: str | None, code: Path | None) -> Measured:
    """The sequence on fresh databases; ``code``: another checkout's `syncer`."""
    async with scratch(template) as dsn:
        server.reset()
        first = await syncer_once(dsn, server.endpoint, full=True, code=code, **SETTINGS)
        first_calls = server.sagemaker_calls()
    async with scratch(template) as dsn:
        server.reset()
        summaries_only = await syncer_once(
            dsn, server.endpoint, full=True, details="false", code=code, **SETTINGS
        )
    async with scratch(template) as dsn:
        # Before any reconcile: a first incremental cycle, then an unchanged one.
        await syncer_once(dsn, server.endpoint, full=False, code=code, **SETTINGS)
        server.reset()
        await syncer_once(dsn, server.endpoint, full=False, code=code, **SETTINGS)
        before = server.sagemaker_calls()
        server.reset()
        reconcile = await syncer_once(dsn, server.endpoint, full=True, code=code, **SETTINGS)
        reconcile_calls = server.sagemaker_calls()
        mirrored = await checks.mirror_matches_source(server, dsn)
        server.set_faults(latency_seconds=LATENCY)
        server.reset()
        await syncer_once(dsn, server.endpoint, full=False, code=code, **SETTINGS)
        quiet = server.sagemaker_calls()
    return Measured(
        first, first_calls, summaries_only, before, reconcile, reconcile_calls, quiet, mirrored
    )


def rows(name: str, shape: Shape, now: Measured, was: Measured | None, bound: int) -> list[Row]:
    n = shape.groups * shape.versions + shape.unversioned

    def prev(text: str) -> str:
        return text if was is not None else "-"

    ratio = now.first.cycle_seconds / max(now.summaries_only.cycle_seconds, 1e-9)
    return [
        Row(
            "7",
            f"{name}: reconcile, details on: SageMaker calls (time); rows = source",
            f"{now.reconcile_calls} ({seconds(now.reconcile.cycle_seconds)}); "
            f"{now.mirrored} of {n}",
            prev(f"{was.reconcile_calls} ({seconds(was.reconcile.cycle_seconds)})") if was else "-",
            f"{was.reconcile_calls / max(1, now.reconcile_calls):.0f}x fewer" if was else "-",
            f"<= {bound}",
            now.reconcile_calls <= bound and now.mirrored == n,
        ),
        Row(
            "7",
            f"{name}: first sync, details on against summaries only: time (calls)",
            f"{seconds(now.first.cycle_seconds)} ({now.first_calls}) vs "
            f"{seconds(now.summaries_only.cycle_seconds)}: {ratio:.1f}x; "
            f"{1000 * now.first.cpu_seconds / max(1, n):.2f} ms CPU a package",
            f"{seconds(was.first.cycle_seconds)} vs {seconds(was.summaries_only.cycle_seconds)}"
            if was
            else "-",
            "-",
            "<= 2x",
            ratio <= 2.0,
        ),
        Row(
            "7",
            f"{name}: unchanged incremental cycle before any reconcile: calls",
            str(now.before_reconcile_calls),
            str(was.before_reconcile_calls) if was else "-",
            "-",
            "<= 5",
            now.before_reconcile_calls <= 5,
        ),
        Row(
            "7",
            f"{name}: unchanged incremental cycle after a reconcile: calls",
            str(now.quiet_calls),
            str(was.quiet_calls) if was else "-",
            "-",
            "<= 3",
            now.quiet_calls <= 3,
        ),
    ]


async def account_listing(ctx: Context) -> list[Row]:
    """Scenario 7, on the issue's two registries (scaled)."""
    out: list[Row] = []
    for groups, versions, bound in ((5000, 2, 320), (500, 40, 420)):
        shape = ctx.shape(groups, versions)
        name = f"{shape.groups} groups x {shape.versions} + {shape.unversioned}"
        with running(shape, latency_seconds=LATENCY) as server:
            progress(f"{name}: this code")
            now = await measure(server, ctx.template, None)
            was = None
            if ctx.previous is not None:
                progress(f"{name}: {ctx.previous}")
                was = await measure(server, None, ctx.previous)
        out += rows(name, shape, now, was, bound)
    return out
