"""The database side alone: the Store calls of a full cycle, replayed from parsed pages.

What a full cycle asks of PostgreSQL (run record, group upsert and sweep,
one transaction per page, each scope's finish and sweep), with the service's
own Store and concurrency, and no SageMaker in the way. Its wall time is the
"database time" of the bound in scenario 1 and the rows/s of scenario 5.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from standin.sagemaker import Registry
from syncer.cycle.runs import Runs
from syncer.models import (
    UNVERSIONED,
    PackageGroup,
    PackageSummary,
    Scope,
    Target,
    parse_group,
    parse_package,
)
from syncer.settings import Settings
from syncer.warehouse.store import Store, pool_size

PAGE = 100


@dataclass(frozen=True)
class Listing:
    """A registry as the service would receive it: groups and each scope's pages."""

    target: Target
    groups: list[PackageGroup]
    scopes: dict[Scope, list[list[PackageSummary]]]

    @property
    def packages(self) -> int:
        return sum(len(page) for pages in self.scopes.values() for page in pages)


def listing_of(registry: Registry) -> Listing:
    target = Target(registry.account_id, registry.region)
    groups = [parse_group(g.summary()) for g in registry.groups.values()]
    by_scope: dict[Scope, list[PackageSummary]] = {}
    for package in registry.packages.values():
        scope = Scope(target, package.group or UNVERSIONED)
        by_scope.setdefault(scope, []).append(parse_package(package.summary(), package.group))
    scopes = {
        scope: [rows[i : i + PAGE] for i in range(0, len(rows), PAGE)]
        for scope, rows in by_scope.items()
    }
    return Listing(target, groups, scopes)


def _chunks(items: list[PackageGroup]) -> Iterator[list[PackageGroup]]:
    for i in range(0, len(items), PAGE):
        yield items[i : i + PAGE]


# The service's default: pages written at once, whatever the listing concurrency.
WRITERS: int = Settings.model_fields["database_connections"].default


async def replay(
    database_url: str, listing: Listing, concurrency: int, *, pooler: str = "none"
) -> float:
    """Seconds to store ``listing`` as one full cycle would, on a migrated database
    (``pooler``: as SYNCER_DATABASE_POOLER)."""
    async with Store.open(database_url, max_size=pool_size(WRITERS), pooler=pooler) as store:
        started = time.perf_counter()
        run_id = await Runs(store).start("full")
        for chunk in _chunks(listing.groups):
            await store.store_groups(listing.target, chunk)
        await store.sweep_groups(listing.target, [g.arn for g in listing.groups], None, run_id)
        semaphore = asyncio.Semaphore(concurrency)
        absent_before = datetime.now(UTC)

        async def one(scope: Scope, pages: list[list[PackageSummary]]) -> None:
            async with semaphore:
                seen: list[str] = []
                for number, page in enumerate(pages, 1):
                    seen.extend(p.arn for p in page)
                    last = number == len(pages)
                    await store.store_page(
                        scope,
                        page,
                        run_id,
                        last=last,
                        seen_arns=seen if last else None,
                        absent_before=absent_before,
                    )

        async with asyncio.TaskGroup() as tasks:
            for scope, pages in listing.scopes.items():
                tasks.create_task(one(scope, pages))
        return time.perf_counter() - started
