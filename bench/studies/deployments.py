"""Deployments: their calls (first read, quiet cycle, reconcile) and how soon a switch shows.

    python -m bench.studies.deployments [--groups 50] [--versions 20] [--models 1500]
                                        [--endpoints 400]

Against the benchmark's stand-in (20 ms a call, as in bench.scenarios) with
M models made from the registry's versions and E endpoints, the real
`syncer once` in a subprocess, with SYNCER_DEPLOYMENTS on and off in turn,
each on a fresh database: a first sync, an unchanged incremental cycle and
a reconcile (`once --full`). The deployments' calls in each cycle are its
SageMaker calls with deployments on minus those with them off (everything
else makes the same calls either way). Then, deployments on, an endpoint is
moved to a model of another version (CreateModel, CreateEndpointConfig,
UpdateEndpoint through boto3) and one incremental cycle runs.

Targets: at most 1 extra call in a quiet cycle; at most (M + E) / 100 + 2 in
a reconcile; the moved endpoint shows its new version in
sagemaker.deployed_model_packages after that one incremental cycle.
"""

from __future__ import annotations

import argparse
import asyncio

import asyncpg

from bench.database import migrated_template, scratch, server_version
from bench.report import Row, machine, markdown, progress
from bench.server import Server, Shape, running
from bench.service import syncer_once
from syncer.logging import configure_logging

LATENCY = 0.020
CYCLES = (("first sync", False), ("unchanged incremental", False), ("reconcile", True))
MOVED = "endpoint-00000"
SERVED = """
SELECT model_name, model_package_arn FROM sagemaker.deployed_model_packages
 WHERE endpoint_name = $1
"""


async def three_cycles(template: str, server: Server, deployments: bool) -> list[int]:
    """CYCLES on a fresh database; the SageMaker calls of each (each must succeed)."""
    calls = []
    async with scratch(template) as dsn:
        for name, full in CYCLES:
            progress(f"{name}, deployments {'on' if deployments else 'off'}")
            server.reset()
            run = await syncer_once(
                dsn, server.endpoint, full=full, deployments=str(deployments).lower()
            )
            if run.status != "succeeded":
                raise RuntimeError(f"{name}: {run.status}: {run.stderr_tail}")
            calls.append(server.sagemaker_calls())
    return calls


async def switch(template: str, server: Server) -> tuple[bool, int, int]:
    """A first sync, then MOVED runs another version, then one incremental cycle.
    Whether the view shows the new version after it, the deployments' calls of that
    cycle (on minus the same cycle's other calls, counted by operation and resource),
    and the calls of the whole cycle."""
    client = server.client()
    async with scratch(template) as dsn:
        run = await syncer_once(dsn, server.endpoint, full=False)
        if run.status != "succeeded":
            raise RuntimeError(f"first sync: {run.stderr_tail}")
        conn = await asyncpg.connect(dsn)
        try:
            before = await conn.fetchrow(SERVED, MOVED)
            assert before is not None, "the moved endpoint serves no package before"
            version = await conn.fetchval(
                "SELECT model_package_arn FROM sagemaker.model_packages"
                " WHERE model_approval_status = 'Approved' AND model_package_arn <> $1"
                " ORDER BY creation_time DESC LIMIT 1",
                before["model_package_arn"],
            )
            client.create_model(
                ModelName="moved",
                PrimaryContainer={"ModelPackageName": version},
                ExecutionRoleArn="arn:aws:iam::123456789012:role/SageMakerExecution",
            )
            client.create_endpoint_config(
                EndpointConfigName="moved-config",
                ProductionVariants=[
                    {
                        "VariantName": "AllTraffic",
                        "ModelName": "moved",
                        "InstanceType": "ml.m5.large",
                        "InitialInstanceCount": 1,
                    }
                ],
            )
            client.update_endpoint(EndpointName=MOVED, EndpointConfigName="moved-config")
            server.reset()
            run = await syncer_once(dsn, server.endpoint, full=False)
            searches = server.stats()["calls"].get("Search", 0)
            after = await conn.fetchrow(SERVED, MOVED)
        finally:
            await conn.close()
    shown = after is not None and (after["model_name"], after["model_package_arn"]) == (
        "moved",
        version,
    )
    return shown, searches, server.sagemaker_calls()


def rows(on: list[int], off: list[int], models: int, endpoints: int) -> list[Row]:
    first, quiet, reconcile = (a - b for a, b in zip(on, off, strict=True))
    bound = (models + endpoints) / 100 + 2
    return [
        Row(
            "P1",
            f"first sync: deployments calls ({models:,} models, {endpoints:,} endpoints)",
            str(first),
            target=f"<= (M + E)/100 + 2 = {bound:.0f}",
            met=first <= bound,
        ),
        Row(
            "P2",
            "unchanged incremental cycle: deployments calls",
            str(quiet),
            target="<= 1",
            met=quiet <= 1,
        ),
        Row(
            "P3",
            "reconcile (`once --full`): deployments calls",
            str(reconcile),
            target=f"<= (M + E)/100 + 2 = {bound:.0f}",
            met=reconcile <= bound,
        ),
    ]


async def main_async(args: argparse.Namespace) -> int:
    shape = Shape(args.groups, args.versions, args.unversioned)
    progress(
        f"registry: {shape.groups} groups x {shape.versions} + {shape.unversioned};"
        f" {args.models} models, {args.endpoints} endpoints"
    )
    async with migrated_template() as template:
        with running(
            shape, models=args.models, endpoints=args.endpoints, latency_seconds=LATENCY
        ) as server:
            off = await three_cycles(template, server, False)
            on = await three_cycles(template, server, True)
            progress("an endpoint moved to another version, one incremental cycle")
            shown, searches, calls = await switch(template, server)
    table = rows(on, off, args.models, args.endpoints)
    table.append(
        Row(
            "P4",
            f"an endpoint moved to another version: in deployed_model_packages after one"
            f" incremental cycle ({calls} calls in that cycle, {searches} of them Search)",
            "yes" if shown else "no",
            target="1 cycle",
            met=shown,
        )
    )
    print(f"Machine: {machine(await server_version())}")
    print(
        f"Registry: {shape.packages:,} packages in {shape.groups} groups, {args.models:,}"
        f" models, {args.endpoints:,} endpoints, {LATENCY * 1000:.0f} ms a call"
    )
    print(f"SageMaker calls per cycle, on: {on}; off: {off}")
    print(markdown(table))
    return 0 if all(row.met is not False for row in table) else 1


def main(argv: list[str] | None = None) -> int:
    configure_logging("WARNING", "console")
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--groups", type=int, default=50)
    parser.add_argument("--versions", type=int, default=20)
    parser.add_argument("--unversioned", type=int, default=10)
    parser.add_argument("--models", type=int, default=1500)
    parser.add_argument("--endpoints", type=int, default=400)
    return asyncio.run(main_async(parser.parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
