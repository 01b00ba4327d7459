"""PostgreSQL side of the governance details: upserts of Search records and pass progress.

SQL in ``syncer/warehouse/sql/details.sql``. Rows are sent sorted by ARN, so that two
writers of overlapping pages (the change feed and a pass) lock them in the
same order.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from syncer.details.identities import Identities
from syncer.details.parse import GroupDetails, PackageDetails, parse_package_details
from syncer.models import Target
from syncer.warehouse.sql import QUERIES
from syncer.warehouse.store import Store


@dataclass(frozen=True)
class DetailsState:
    """Where the details reads of a target stand (sagemaker.details_state)."""

    pass_started_at: datetime | None = None
    pass_from: datetime | None = None
    pass_cursor: datetime | None = None
    pass_full: bool = False
    looked_through: datetime | None = None
    last_full_pass_started_at: datetime | None = None
    last_error: str | None = None


# Keys that belong to one modification: an event that leaves them out does not
# keep the previous modification's.
MODIFICATION_KEYS = ("LastModifiedBy", "ApprovalDescription")


class DetailsStore:
    def __init__(self, store: Store, identities: Identities | None = None) -> None:
        # Through the store's transactions, which carry the service's settings.
        self._store = store
        # What is kept of identities (SYNCER_IDENTITIES): every write goes through it.
        self._identities = identities or Identities()

    async def state(self, target: Target) -> DetailsState | None:
        async with self._store.transaction() as conn:
            row = await conn.fetchrow(
                QUERIES["get_details_state"], target.account_id, target.region
            )
        return DetailsState(**dict(row)) if row is not None else None

    async def missing(self, target: Target, since: datetime | None) -> tuple[datetime | None, bool]:
        """The oldest creation time of live packages first seen since ``since`` that have
        no details, and whether such a group exists."""
        async with self._store.transaction() as conn:
            row = await conn.fetchrow(
                QUERIES["details_missing"], target.account_id, target.region, since
            )
        assert row is not None
        return row["packages_since"], bool(row["groups_missing"])

    async def store_packages(self, details: Sequence[PackageDetails]) -> int:
        """Upsert package details (a page of a pass, or of the change feed); returns
        how many rows were written."""
        if not details:
            return 0
        async with self._store.transaction() as conn:
            return await self._upsert_packages(conn, details)

    async def store_groups(self, details: Sequence[GroupDetails]) -> int:
        if not details:
            return 0
        rows = sorted({d.arn: d for d in details}.values(), key=lambda d: d.arn)
        rows = [self._identities.group(d) for d in rows]
        async with self._store.transaction() as conn:
            written = await conn.fetchval(
                QUERIES["upsert_group_details"],
                [d.arn for d in rows],
                [d.created_by_arn for d in rows],
                [d.created_by_user_profile for d in rows],
                [d.tags for d in rows],
                [d.record for d in rows],
            )
        return int(written)

    async def open_pass(self, target: Target, start: datetime | None, full: bool) -> None:
        async with self._store.transaction() as conn:
            await conn.execute(
                QUERIES["open_details_pass"], target.account_id, target.region, start, full
            )

    async def advance_pass(self, target: Target, cursor: datetime) -> None:
        """Everything of the open pass created before ``cursor`` has been read."""
        async with self._store.transaction() as conn:
            await conn.execute(
                QUERIES["advance_details_pass"], target.account_id, target.region, cursor
            )

    async def close_pass(self, target: Target, *, lookback_seconds: float) -> None:
        async with self._store.transaction() as conn:
            await conn.execute(
                QUERIES["close_details_pass"], target.account_id, target.region, lookback_seconds
            )

    async def live_between(self, target: Target, start: datetime, before: datetime) -> bool:
        """Whether the mirror has a live package of the target created in [start, before)."""
        async with self._store.transaction() as conn:
            return bool(
                await conn.fetchval(
                    QUERIES["live_between"], target.account_id, target.region, start, before
                )
            )

    async def _upsert_packages(
        self, conn: asyncpg.Connection, details: Sequence[PackageDetails]
    ) -> int:
        rows = sorted({d.arn: d for d in details}.values(), key=lambda d: d.arn)
        rows = [self._identities.package(d) for d in rows]
        written = await conn.fetchval(QUERIES["upsert_package_details"], *_columns(rows))
        return int(written)

    async def merge_package(self, conn: asyncpg.Connection, record: dict[str, Any]) -> int:
        """Merge what an event's record carries into a package's stored details, in the
        caller's transaction; returns the rows written (0 or 1).

        An event carries part of the record (no tags, often no creator): the other
        keys keep their stored values, except those of the modification before it
        (MODIFICATION_KEYS), which would name the wrong person or note. A package
        with no details yet is left to the details pass, which reads its whole record.
        """
        arn = record.get("ModelPackageArn")
        stored = await conn.fetchval(QUERIES["package_details_record"], arn)
        if stored is None:
            return 0
        merged = {k: v for k, v in json.loads(stored).items() if k not in MODIFICATION_KEYS}
        merged.update(record)
        return await self._upsert_packages(conn, [parse_package_details({"ModelPackage": merged})])

    async def failed(self, target: Target, error: str) -> None:
        async with self._store.transaction() as conn:
            await conn.execute(
                QUERIES["details_failed"], target.account_id, target.region, error[:2000]
            )


def _columns(rows: Sequence[PackageDetails]) -> list[list[Any]]:
    def array(values: list[str]) -> str:
        return json.dumps(values, ensure_ascii=False) if values else "[]"

    return [
        [d.arn for d in rows],
        [d.created_by_arn for d in rows],
        [d.created_by_user_profile for d in rows],
        [d.last_modified_by_arn for d in rows],
        [d.last_modified_by_user_profile for d in rows],
        [d.last_modified_time for d in rows],
        [d.approval_description for d in rows],
        [d.tags for d in rows],
        [d.customer_metadata for d in rows],
        [array(d.image_uris) for d in rows],
        [array(d.model_data_urls) for d in rows],
        [d.source_uri for d in rows],
        [d.domain for d in rows],
        [d.task for d in rows],
        [d.sample_payload_url for d in rows],
        [d.has_model_metrics for d in rows],
        [array(d.model_metrics_s3_uris) for d in rows],
        [d.has_drift_check_baselines for d in rows],
        [array(d.drift_check_baselines_s3_uris) for d in rows],
        [d.model_card_status for d in rows],
        [d.record for d in rows],
        [d.generated_by for d in rows],
        [d.project_id for d in rows],
        [d.commit_id for d in rows],
        [d.repository for d in rows],
        [d.validation_statuses for d in rows],
        [d.image_scan_statuses for d in rows],
        [array(d.additional_image_uris) for d in rows],
        [array(d.additional_model_data_urls) for d in rows],
    ]
