"""PostgreSQL side of the deployments: pages of models and endpoints, sweeps, progress.

SQL in ``syncer/warehouse/sql/deployments.sql``. Rows are sent sorted by ARN,
so that writers of overlapping pages lock them in the same order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from syncer.deployments.parse import EndpointRecord, ModelRecord
from syncer.models import Target
from syncer.warehouse.sql import QUERIES
from syncer.warehouse.store import Store


@dataclass(frozen=True)
class DeploymentsState:
    """Where the deployments reads of a target stand (sagemaker.deployments_state)."""

    endpoints_cursor: datetime | None = None
    last_full_read_started_at: datetime | None = None
    last_full_read_at: datetime | None = None
    last_read_at: datetime | None = None
    last_error: str | None = None


@dataclass
class Written:
    """Rows a read wrote (inserted or changed): what a cycle logs."""

    models: int = 0
    containers: int = 0
    endpoints: int = 0
    started: int = 0  # periods of a model on an endpoint that began
    ended: int = 0
    models_gone: int = 0
    endpoints_gone: int = 0

    def add(self, other: Written) -> None:
        for name, value in vars(other).items():
            setattr(self, name, getattr(self, name) + value)


class DeploymentsStore:
    def __init__(self, store: Store) -> None:
        # Through the store's transactions, which carry the service's settings.
        self._store = store

    async def state(self, target: Target) -> DeploymentsState | None:
        async with self._store.transaction() as conn:
            row = await conn.fetchrow(
                QUERIES["get_deployments_state"], target.account_id, target.region
            )
        return DeploymentsState(**dict(row)) if row is not None else None

    async def store_models(self, models: Sequence[ModelRecord]) -> Written:
        """A page of models with their containers and the endpoints that serve them."""
        if not models:
            return Written()
        rows = sorted({m.arn: m for m in models}.values(), key=lambda m: m.arn)
        async with self._store.transaction() as conn:
            row = await conn.fetchrow(QUERIES["store_model_page"], *_model_columns(rows))
        assert row is not None
        return Written(
            models=row["models"],
            containers=row["containers"],
            started=row["started"],
            ended=row["ended"],
        )

    async def store_endpoints(
        self, endpoints: Sequence[EndpointRecord], lookback_seconds: float
    ) -> tuple[Written, dict[str, str]]:
        """A page of endpoints; returns what it wrote, and the endpoints (name -> ARN)
        that changed now or less than the lookback ago: whose models to read again,
        the search index of models being no more up to date than that of endpoints."""
        if not endpoints:
            return Written(), {}
        rows = sorted({e.arn: e for e in endpoints}.values(), key=lambda e: e.arn)
        async with self._store.transaction() as conn:
            changed = await conn.fetch(
                QUERIES["store_endpoint_page"], *_endpoint_columns(rows), lookback_seconds
            )
        written = Written(endpoints=sum(1 for r in changed if r["written"]))
        return written, {r["endpoint_name"]: r["endpoint_arn"] for r in changed}

    async def end_endpoint_links(self, endpoints: Iterable[str], models: Iterable[str]) -> Written:
        """The periods of ``endpoints`` with models other than ``models`` end: a read of
        the models that serve those endpoints returned only ``models``."""
        async with self._store.transaction() as conn:
            ended = await conn.fetchval(
                QUERIES["end_endpoint_links"], sorted(set(endpoints)), sorted(set(models))
            )
        return Written(ended=int(ended))

    async def sweep(
        self, target: Target, models: Iterable[str], endpoints: Iterable[str]
    ) -> Written:
        """After complete reads of every model and endpoint of a target (their ARNs)."""
        async with self._store.transaction() as conn:
            gone_models = await conn.fetchrow(
                QUERIES["sweep_models"], target.account_id, target.region, sorted(set(models))
            )
            gone_endpoints = await conn.fetchrow(
                QUERIES["sweep_endpoints"],
                target.account_id,
                target.region,
                sorted(set(endpoints)),
            )
        assert gone_models is not None
        assert gone_endpoints is not None
        return Written(
            models_gone=gone_models["gone"],
            endpoints_gone=gone_endpoints["gone"],
            ended=gone_models["ended"] + gone_endpoints["ended"],
        )

    async def finish(
        self, target: Target, cursor: datetime | None, full_read_started: datetime | None
    ) -> None:
        """A read completed: move the cursor, record a full read."""
        async with self._store.transaction() as conn:
            await conn.execute(
                QUERIES["deployments_read"],
                target.account_id,
                target.region,
                cursor,
                full_read_started,
            )

    async def resolve(self, target: Target) -> int:
        """Link the target's containers whose package was not mirrored when they were
        stored to that package, if it is now; returns how many."""
        async with self._store.transaction() as conn:
            resolved = await conn.fetchval(
                QUERIES["resolve_model_containers"], target.account_id, target.region
            )
        return int(resolved)

    async def failed(self, target: Target, error: str) -> None:
        async with self._store.transaction() as conn:
            await conn.execute(
                QUERIES["deployments_failed"], target.account_id, target.region, error
            )


def _model_columns(rows: Sequence[ModelRecord]) -> list[list[Any]]:
    containers = [(m.arn, c) for m in rows for c in m.containers]
    # One period per endpoint and model, whatever the record repeats.
    links = sorted(
        {(m.arn, h.endpoint_arn): (m.arn, h) for m in rows for h in m.endpoints}.values(),
        key=lambda link: (link[0], link[1].endpoint_arn),
    )
    return [
        [m.arn for m in rows],
        [m.account_id for m in rows],
        [m.region for m in rows],
        [m.name for m in rows],
        [m.creation_time for m in rows],
        [m.execution_role_arn for m in rows],
        [m.enable_network_isolation for m in rows],
        [m.inference_execution_mode for m in rows],
        [m.tags for m in rows],
        [m.record for m in rows],
        [len(m.containers) for m in rows],
        [arn for arn, _ in containers],
        [c.position for _, c in containers],
        [c.hostname for _, c in containers],
        [c.image for _, c in containers],
        [c.model_data_url for _, c in containers],
        [c.mode for _, c in containers],
        [c.model_package_name for _, c in containers],
        [c.inference_specification_name for _, c in containers],
        [arn for arn, _ in links],
        [h.endpoint_arn for _, h in links],
        [h.endpoint_name for _, h in links],
        [h.last_modified_time for _, h in links],
    ]


def _endpoint_columns(rows: Sequence[EndpointRecord]) -> list[list[Any]]:
    return [
        [e.arn for e in rows],
        [e.account_id for e in rows],
        [e.region for e in rows],
        [e.name for e in rows],
        [e.config_name for e in rows],
        [e.status for e in rows],
        [e.failure_reason for e in rows],
        [e.creation_time for e in rows],
        [e.last_modified_time for e in rows],
        [e.tags for e in rows],
        [e.record for e in rows],
    ]
