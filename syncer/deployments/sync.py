"""Reading deployments: what a cycle reads (a pure plan), and reading it.

Which version runs where is read from two Search resources:

* ``Endpoint``: endpoints sorted by LastModifiedTime. Their production
  variants name images, not models;
* ``Model``: ``ModelDashboardModel`` records, each model with its containers
  (and the package each was made from) and the endpoints that host it: the
  links between endpoints and packages come from here.

A **full read** reads every endpoint, then every model, about
(models + endpoints) / 100 calls, and marks what it did not return as gone;
it runs at a target's first cycle and at every reconcile. In between, a
cycle reads the endpoints modified since the cursor (less the lookback:
Search is eventually consistent), one call when nothing changed, and then
the models of those whose record changed, now or less than the lookback
ago (the index of models may lag behind that of endpoints), through a
filter on ``Endpoints.EndpointName``: an endpoint switched to another model
shows in the next incremental cycle. Deletions of models and endpoints wait for the
reconcile, as package deletions do.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from syncer.aws.registry import Page, RegistrySource, parse_all, whole_seconds
from syncer.deployments.parse import (
    ENDPOINT_ARN,
    MODEL_ARN,
    EndpointRecord,
    parse_endpoint,
    parse_model,
)
from syncer.deployments.store import DeploymentsState, DeploymentsStore, Written
from syncer.logging import get_logger
from syncer.models import EPOCH, ONE_MILLISECOND

log = get_logger(__name__)

# Property names are paths in the searched record: the model's creation time is
# "Model.CreationTime" in a ModelDashboardModel.
MODELS: dict[str, Any] = {
    "Resource": "Model",
    "SortBy": "Model.CreationTime",
    "SortOrder": "Ascending",
}
# Ascending on LastModifiedTime: an endpoint modified during a read moves behind
# the pages still to come, so it is read, never skipped.
ENDPOINTS: dict[str, Any] = {
    "Resource": "Endpoint",
    "SortBy": "LastModifiedTime",
    "SortOrder": "Ascending",
}
# A filter's value holds at most 1,024 characters; endpoint names (at most 63,
# no commas) are sent as comma lists that fit.
FILTER_VALUE_LIMIT = 1024

Action = Literal["full", "changes"]


@dataclass(frozen=True)
class DeploymentsPlan:
    action: Action
    reason: str
    modified_after: datetime | None = None  # "changes": endpoints modified after this


@dataclass
class DeploymentsResult:
    plan: DeploymentsPlan
    lookback_seconds: float
    calls: int = 0  # Search pages read
    endpoints_read: int = 0
    models_read: int = 0
    skipped: int = 0
    complete: bool = False
    written: Written = field(default_factory=Written)


def plan_deployments(
    state: DeploymentsState | None, *, full_cycle: bool, lookback: timedelta
) -> DeploymentsPlan:
    """What this cycle reads, from the target's state; no I/O."""
    if state is None or state.last_full_read_at is None:
        return DeploymentsPlan("full", "first read")
    if full_cycle:
        return DeploymentsPlan("full", "reconcile")
    cursor = state.endpoints_cursor or EPOCH
    return DeploymentsPlan(
        "changes", "endpoints changed since the cursor", cursor - lookback - ONE_MILLISECOND
    )


async def sync_deployments(
    source: RegistrySource,
    store: DeploymentsStore,
    *,
    full_cycle: bool,
    lookback: timedelta,
    now: Callable[[], datetime],
    stop: asyncio.Event,
    beat: Callable[[], None] = lambda: None,
) -> DeploymentsResult:
    """Plan this cycle's deployments reads for one target and carry them out.

    SageMaker's errors are raised (``SourceError``): the caller tells a refusal
    from a failure. Stopping leaves the cursor where it was.
    """
    state = await store.state(source.target)
    plan = plan_deployments(state, full_cycle=full_cycle, lookback=lookback)
    result = DeploymentsResult(plan, lookback.total_seconds())
    if plan.action == "full":
        await _read_all(source, store, result, now=now, stop=stop, beat=beat)
    else:
        await _read_changes(source, store, result, stop=stop, beat=beat)
    w = result.written
    if plan.action == "changes" and not result.endpoints_read:
        return result  # a quiet cycle: nothing to say
    log.info(
        "deployments.read",
        target=str(source.target),
        action=plan.action,
        reason=plan.reason,
        calls=result.calls,
        endpoints=result.endpoints_read,
        models=result.models_read,
        complete=result.complete,
        skipped=result.skipped,
        written=w.models + w.containers + w.endpoints + w.started + w.ended,
        models_gone=w.models_gone,
        endpoints_gone=w.endpoints_gone,
    )
    return result


async def _read_all(
    source: RegistrySource,
    store: DeploymentsStore,
    result: DeploymentsResult,
    *,
    now: Callable[[], datetime],
    stop: asyncio.Event,
    beat: Callable[[], None],
) -> None:
    """Every endpoint, then every model; what neither returned is gone."""
    started = now()
    endpoints: list[str] = []
    cursor = None
    async for items, _ in source.search_pages(ENDPOINTS):
        if stop.is_set():
            return
        read, _ = await _store_endpoints(source, store, result, items)
        endpoints.extend(read.arns())
        cursor = _newest(cursor, read.items)
        beat()
    models = [arn async for arn in _store_models(source, store, result, MODELS, stop, beat)]
    if stop.is_set():
        return
    result.written.add(await store.sweep(source.target, models, endpoints))
    await store.finish(source.target, cursor, started)
    result.complete = True


async def _read_changes(
    source: RegistrySource,
    store: DeploymentsStore,
    result: DeploymentsResult,
    *,
    stop: asyncio.Event,
    beat: Callable[[], None],
) -> None:
    """The endpoints modified since the cursor, then the models that serve them now."""
    assert result.plan.modified_after is not None
    bound = {
        "Name": "LastModifiedTime",
        "Operator": "GreaterThan",
        "Value": whole_seconds(result.plan.modified_after),
    }
    changed: dict[str, str] = {}  # name -> ARN
    cursor = None
    request = dict(ENDPOINTS, SearchExpression={"Filters": [bound]})
    async for items, _ in source.search_pages(request):
        if stop.is_set():
            return
        read, recent = await _store_endpoints(source, store, result, items)
        changed.update(recent)
        cursor = _newest(cursor, read.items)
        beat()
    for names in _batches(sorted(changed)):
        serving = dict(MODELS, SearchExpression={"NestedFilters": [_serving(names)]})
        models = [arn async for arn in _store_models(source, store, result, serving, stop, beat)]
        if stop.is_set():
            return
        result.written.add(await store.end_endpoint_links([changed[n] for n in names], models))
    await store.finish(source.target, cursor, None)
    result.complete = True


async def _store_endpoints(
    source: RegistrySource,
    store: DeploymentsStore,
    result: DeploymentsResult,
    items: list[dict[str, Any]],
) -> tuple[Page[EndpointRecord], dict[str, str]]:
    """A page of endpoints, and those that changed lately (name -> ARN)."""
    page = parse_all(items, parse_endpoint, ENDPOINT_ARN, source.target)
    result.calls += 1
    result.endpoints_read += len(items)
    result.skipped += page.skipped
    written, recent = await store.store_endpoints(page.items, result.lookback_seconds)
    result.written.add(written)
    return page, recent


async def _store_models(
    source: RegistrySource,
    store: DeploymentsStore,
    result: DeploymentsResult,
    request: dict[str, Any],
    stop: asyncio.Event,
    beat: Callable[[], None],
) -> AsyncIterator[str]:
    """Store each page of a models read; yields the ARN of every model returned,
    stored or skipped (a skipped one exists: no sweep may mark it gone)."""
    async for items, _ in source.search_pages(request):
        if stop.is_set():
            return
        page = parse_all(items, parse_model, MODEL_ARN, source.target)
        result.calls += 1
        result.models_read += len(items)
        result.skipped += page.skipped
        result.written.add(await store.store_models(page.items))
        beat()
        for arn in page.arns():
            yield arn


def _serving(names: list[str]) -> dict[str, Any]:
    """A nested filter: models that at least one of the endpoints ``names`` hosts."""
    return {
        "NestedPropertyName": "Endpoints",
        "Filters": [{"Name": "Endpoints.EndpointName", "Operator": "In", "Value": ",".join(names)}],
    }


def _batches(names: list[str]) -> Iterator[list[str]]:
    """The names in comma lists of at most FILTER_VALUE_LIMIT characters."""
    batch: list[str] = []
    size = 0
    for name in names:
        if batch and size + 1 + len(name) > FILTER_VALUE_LIMIT:
            yield batch
            batch, size = [], 0
        size += len(name) + (1 if batch else 0)
        batch.append(name)
    if batch:
        yield batch


def _newest(cursor: datetime | None, endpoints: list[EndpointRecord]) -> datetime | None:
    times = [e.last_modified_time for e in endpoints if e.last_modified_time is not None]
    return max([cursor, *times]) if cursor is not None else max(times, default=None)
