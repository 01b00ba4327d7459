"""Scenario 7: directed incremental cycles beside all-groups ones, in the same run.

One stand-in (20 ms a call), two mirrors of it: one left to earn directed mode
(the default), one with ``SYNCER_DIRECTED_CYCLES=false`` (every incremental
cycle lists every group, as before directed cycles). Each gets a reconcile,
then (1) an incremental cycle with nothing changed, (2) one after k new
versions in g groups and a approval changes, made through the API. Calls are
the stand-in's own counts; both mirrors are compared with the source after
(2), field by field. ``python -m bench --only 7`` (with ``--scale``).
"""

from __future__ import annotations

import asyncio
import math
from typing import TYPE_CHECKING

from bench import checks
from bench.database import scratch
from bench.report import Row, progress, seconds
from bench.server import Server, Shape, running
from bench.service import Run, syncer_once
from standin.sagemaker import REGION

if TYPE_CHECKING:
    from bench.scenarios import Context

LATENCY = 0.020
NEW_VERSIONS = 30  # k
IN_GROUPS = 6  # g
APPROVALS = 20  # a


def change_registry(server: Server, groups: int, versions: int) -> None:
    """k new versions spread over g groups, and a approvals of existing versions."""
    sm = server.client()
    for i in range(NEW_VERSIONS):
        group = f"model-{(i % IN_GROUPS) * (groups // IN_GROUPS):04d}"
        sm.create_model_package(
            ModelPackageGroupName=group,
            InferenceSpecification={
                "Containers": [{"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/m:1"}],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
        )
    for i in range(APPROVALS):
        group = f"model-{(7 + i * 13) % groups:04d}"
        arn = f"arn:aws:sagemaker:{REGION}:123456789012:model-package/{group}/{1 + i % versions}"
        sm.update_model_package(
            ModelPackageArn=arn, ModelApprovalStatus="Approved" if i % 2 else "Rejected"
        )


async def compare(template: str, groups: int, versions: int) -> list[Row]:
    name = f"{groups} groups x {versions} versions"
    modes: dict[str, dict[str, str]] = {"directed": {}, "all-groups": {"directed_cycles": "false"}}
    with running(Shape(groups, versions, 10), latency_seconds=LATENCY) as server:
        async with scratch(template) as dsn_a, scratch(template) as dsn_b:
            dsns = {"directed": dsn_a, "all-groups": dsn_b}
            for mode, settings in modes.items():
                progress(f"{name}: reconcile ({mode})")
                await syncer_once(dsns[mode], server.endpoint, full=True, **settings)
            quiet: dict[str, tuple[Run, int]] = {}
            for mode, settings in modes.items():
                progress(f"{name}: unchanged incremental cycle ({mode})")
                server.reset()
                run = await syncer_once(dsns[mode], server.endpoint, full=False, **settings)
                quiet[mode] = (run, server.sagemaker_calls())
            progress(
                f"{name}: {NEW_VERSIONS} versions in {IN_GROUPS} groups, {APPROVALS} approvals"
            )
            await asyncio.to_thread(change_registry, server, groups, versions)
            changed: dict[str, tuple[Run, int, int]] = {}
            for mode, settings in modes.items():
                progress(f"{name}: incremental cycle after the changes ({mode})")
                server.reset()
                run = await syncer_once(dsns[mode], server.endpoint, full=False, **settings)
                calls = server.sagemaker_calls()
                mirrored = await checks.mirror_matches_source(server, dsns[mode])
                server.set_faults(latency_seconds=LATENCY)
                changed[mode] = (run, calls, mirrored)
    bound = IN_GROUPS + math.ceil((NEW_VERSIONS + APPROVALS) / 100) + 3
    d_quiet, a_quiet = quiet["directed"], quiet["all-groups"]
    d_changed, a_changed = changed["directed"], changed["all-groups"]
    return [
        Row(
            "7",
            f"{name}, unchanged incremental cycle: SageMaker calls (time)",
            f"{d_quiet[1]} ({seconds(d_quiet[0].cycle_seconds)})",
            f"{a_quiet[1]} ({seconds(a_quiet[0].cycle_seconds)}) all-groups",
            f"{a_quiet[1] / max(1, d_quiet[1]):.0f}x fewer",
            "<= 3",
            d_quiet[1] <= 3,
        ),
        Row(
            "7",
            f"{name}, after {NEW_VERSIONS} new versions in {IN_GROUPS} groups and "
            f"{APPROVALS} approvals: calls (time), all mirrored",
            f"{d_changed[1]} ({seconds(d_changed[0].cycle_seconds)}), "
            f"+{d_changed[0].packages_inserted} ~{d_changed[0].packages_updated}, "
            f"{d_changed[2]} rows = source",
            f"{a_changed[1]} ({seconds(a_changed[0].cycle_seconds)}), "
            f"+{a_changed[0].packages_inserted} ~{a_changed[0].packages_updated} all-groups",
            f"{a_changed[1] / max(1, d_changed[1]):.0f}x fewer",
            f"<= g + ceil((k+a)/100) + 3 = {bound}",
            # Every new version, and every approval that changed a value (the same
            # count as all-groups' listing found), and the mirror equals the source.
            d_changed[1] <= bound
            and d_changed[0].packages_inserted == NEW_VERSIONS
            and d_changed[0].packages_updated == a_changed[0].packages_updated,
        ),
    ]


async def directed_cycles(ctx: Context) -> list[Row]:
    """Scenario 7, on the issue's two registries (scaled)."""
    rows = await compare(ctx.template, max(IN_GROUPS, round(500 * ctx.scale)), 40)
    rows += await compare(ctx.template, max(IN_GROUPS, round(5000 * ctx.scale)), 2)
    return rows
