"""Prometheus metrics, in a registry of their own (one per service instance).

Counters that the cycle increments live here as ordinary metrics. Two families
are computed when scraped instead: SageMaker attempts (read from the source's
ApiStats, so a scrape in the middle of a long cycle is current) and the
per-scope gauges (lag is "now minus the watermark", so it keeps growing while
the loop is stuck instead of freezing at its last value).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from syncer.aws.clients import ApiStats
from syncer.aws.limits import CLASSES, TargetLimits
from syncer.aws.targets import TARGET_STATES, target_states
from syncer.models import OVERSIZED, Target
from syncer.warehouse.status import scope_lags
from syncer.warehouse.store import Store

# sync_runs statuses, plus "error": the cycle could not run or be recorded at all
# (typically the database was unreachable), so it has no sync_runs row.
CYCLE_STATUSES = ("succeeded", "partial", "failed", "interrupted", "skipped", "error")
SCOPE_LABELS = ("account_id", "region", "scope")

# A `*_created` series per counter doubles what is scraped and answers nothing here.
disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped upstream


@dataclass(frozen=True)
class ScopeState:
    """What sync_state says about one scope, as of the last refresh."""

    watermark: float | None  # unix time of the newest package stored
    last_success: float | None  # unix time of the last completed listing
    consecutive_failures: int


# The scope label of a target's groups taken together (SYNCER_SCOPE_METRICS=false).
ALL_GROUPS = "(all groups)"


class Metrics:
    def __init__(self, clock: Callable[[], float] = time.time, *, per_scope: bool = True) -> None:
        # False: a target's groups share one series per family (their label values
        # are names anyone who may create a group chooses, and their number too).
        self.per_scope = per_scope
        self.registry = CollectorRegistry()
        r = self.registry
        self.cycles = Counter(
            "syncer_cycles",
            "Sync cycles, by mode and outcome (sync_runs status; skipped: another "
            "replica was leading; error: the cycle could not run, e.g. no database).",
            ["mode", "status"],
            registry=r,
        )
        self.cycle_seconds = Histogram(
            "syncer_cycle_duration_seconds",
            "Wall time of a sync cycle.",
            ["mode"],
            buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1200, 3600),
            registry=r,
        )
        self.scopes = Counter(
            "syncer_scopes",
            "Scope syncs (the group listing, a group's versions, unversioned packages), "
            "by outcome (succeeded, failed).",
            ["outcome"],
            registry=r,
        )
        self.rows = Counter(
            "syncer_rows",
            "model_packages rows written, by action (inserted, updated, deleted).",
            ["action"],
            registry=r,
        )
        self.items_skipped = Counter(
            "syncer_items_skipped", "Listed items that could not be mirrored.", registry=r
        )
        self.last_success = Gauge(
            "syncer_last_success_timestamp_seconds",
            "Unix time of the end of the last cycle in which every scope succeeded.",
            registry=r,
        )
        self.last_cycle = Gauge(
            "syncer_last_cycle_timestamp_seconds",
            "Unix time of the end of the last cycle, whatever its outcome.",
            registry=r,
        )
        self.targets = Gauge(
            "syncer_targets",
            "Targets (account x region) by state: ok (last listing succeeded), failing "
            "(last attempt failed, e.g. the role could not be assumed), new (not synced "
            "yet), departed (a target earlier in this process, no longer one).",
            ["state"],
            registry=r,
        )
        self.up = Gauge(
            "syncer_database_up", "1 when the last database operation worked.", registry=r
        )
        for status in CYCLE_STATUSES:  # export zeros, so rate() and alerts see every series
            self.cycles.labels("incremental", status)
            self.cycles.labels("full", status)
        for outcome in ("succeeded", "failed"):
            self.scopes.labels(outcome)
        for action in ("inserted", "updated", "deleted"):
            self.rows.labels(action)
        for state in TARGET_STATES:
            self.targets.labels(state)
        self._scopes = _ScopeCollector(clock)
        r.register(self._scopes)
        r.register(_OversizedCollector())
        self._api: _ApiCollector | None = None
        self._features = Gauge(
            "syncer_feature_up",
            "1 while an optional read (feature: change_feed, details, deployments, events) "
            "of an account and region runs; 0 while it is switched off because it was "
            "refused (syncer status says why).",
            ["account_id", "region", "feature"],
            registry=r,
        )
        self._limits: _LimitsCollector | None = None

    def track_api(self, stats: ApiStats) -> None:
        """Expose the source's attempt counts (read at scrape time)."""
        if self._api is None:
            self._api = _ApiCollector(stats)
            self.registry.register(self._api)

    def set_targets(self, states: Iterable[str], departed: int) -> None:
        counts = dict.fromkeys(TARGET_STATES, 0)
        for state in states:
            counts[state] += 1
        counts["departed"] = departed
        for state, count in counts.items():
            self.targets.labels(state).set(count)

    def track_limits(self, limits: Callable[[], Mapping[Target, TargetLimits]]) -> None:
        """Expose each target's allowed rate and throttles (read at scrape time)."""
        if self._limits is None:
            self._limits = _LimitsCollector(limits)
            self.registry.register(self._limits)

    def feature_up(self, target: Target, feature: str, up: bool) -> None:
        self._features.labels(target.account_id, target.region, feature).set(1 if up else 0)

    def set_scopes(self, states: Mapping[tuple[str, str, str], ScopeState]) -> None:
        """Replace the per-scope gauges (scopes that vanished disappear)."""
        self._scopes.states = dict(states) if self.per_scope else all_groups(states)


def all_groups(
    states: Mapping[tuple[str, str, str], ScopeState],
) -> dict[tuple[str, str, str], ScopeState]:
    """The states with each target's groups taken together as ALL_GROUPS: the largest
    lag, the oldest last success, the most failures; the other scopes as they are."""
    kept: dict[tuple[str, str, str], ScopeState] = {}
    groups: dict[tuple[str, str, str], list[ScopeState]] = {}
    for (account, region, scope), state in states.items():
        if scope.startswith("("):  # (groups), (unversioned), (changes): not a group's name
            kept[(account, region, scope)] = state
        else:
            groups.setdefault((account, region, ALL_GROUPS), []).append(state)
    for key, members in groups.items():
        marks = [m.watermark for m in members if m.watermark is not None]
        successes = [m.last_success for m in members if m.last_success is not None]
        kept[key] = ScopeState(
            watermark=min(marks, default=None),
            last_success=min(successes, default=None),
            consecutive_failures=max(m.consecutive_failures for m in members),
        )
    return kept


class _ApiCollector(Collector):
    def __init__(self, stats: ApiStats) -> None:
        self._stats = stats

    def collect(self) -> Iterable[Metric]:
        calls = CounterMetricFamily(
            "syncer_api_calls",
            "SageMaker HTTP attempts, retries included, by operation and outcome "
            "(ok, throttled, server_error, client_error, transport_error).",
            labels=["operation", "outcome"],
        )
        throttled = 0
        for (operation, outcome), count in sorted(self._stats.attempts.items()):
            calls.add_metric([operation, outcome], count)
            if outcome == "throttled":
                throttled += count
        yield calls
        yield CounterMetricFamily(
            "syncer_api_throttles",
            "SageMaker attempts answered with a throttling error.",
            value=throttled,
        )


class _OversizedCollector(Collector):
    def collect(self) -> Iterable[Metric]:
        oversized = CounterMetricFamily(
            "syncer_records_oversized",
            "Records skipped as too large (what: record, over 256 kB; tags, over 200), "
            "each with a log line naming its ARN (source.items_skipped).",
            labels=["what"],
        )
        for what in ("record", "tags"):
            oversized.add_metric([what], OVERSIZED[what])
        yield oversized


class _LimitsCollector(Collector):
    def __init__(self, limits: Callable[[], Mapping[Target, TargetLimits]]) -> None:
        self._limits = limits

    def collect(self) -> Iterable[Metric]:
        labels = ["account_id", "region", "operation_class"]
        allowed = GaugeMetricFamily(
            "syncer_api_allowed_rate",
            "Requests/s the service allows itself per account, region and operation class "
            "(list calls, Search): adapts below the ceiling, drops on throttling.",
            labels=labels,
        )
        ceiling = GaugeMetricFamily(
            "syncer_api_rate_ceiling",
            "SYNCER_MAX_REQUESTS_PER_SECOND: the ceiling of each account and region.",
            labels=["account_id", "region"],
        )
        throttles = CounterMetricFamily(
            "syncer_api_target_throttles",
            "Attempts answered with throttling, per account, region and operation class.",
            labels=labels,
        )
        for target, limits in sorted(self._limits().items(), key=lambda kv: str(kv[0])):
            ceiling.add_metric([target.account_id, target.region], limits.ceiling)
            for name in CLASSES:
                key = [target.account_id, target.region, name]
                allowed.add_metric(key, limits.allowed(name))
                throttles.add_metric(key, limits.throttles(name))
        yield allowed
        yield ceiling
        yield throttles


class _ScopeCollector(Collector):
    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.states: dict[tuple[str, str, str], ScopeState] = {}

    def collect(self) -> Iterable[Metric]:
        now = self._clock()
        lag = GaugeMetricFamily(
            "syncer_watermark_lag_seconds",
            "Seconds since the creation time of the newest package stored, per scope "
            "(grows when a scope gets no new packages, or is not being synced).",
            labels=SCOPE_LABELS,
        )
        success = GaugeMetricFamily(
            "syncer_scope_last_success_timestamp_seconds",
            "Unix time of the last completed listing of the scope.",
            labels=SCOPE_LABELS,
        )
        failures = GaugeMetricFamily(
            "syncer_scope_consecutive_failures",
            "Failed attempts of the scope since its last success.",
            labels=SCOPE_LABELS,
        )
        for labels, state in sorted(self.states.items()):
            if state.watermark is not None:
                lag.add_metric(labels, max(0.0, now - state.watermark))
            if state.last_success is not None:
                success.add_metric(labels, state.last_success)
            failures.add_metric(labels, state.consecutive_failures)
        yield lag
        yield success
        yield failures


async def refresh_scope_metrics(
    metrics: Metrics, store: Store, targets: list[Target], departed: int
) -> None:
    """The per-scope and per-target gauges from sync_state, for these targets only:
    an account that left, or another deployment's, is not this one's lag to alert on."""
    rows = await scope_lags(store)
    ours = {(t.account_id, t.region) for t in targets}
    metrics.set_scopes(
        {
            (row["account_id"], row["region"], row["scope"]): ScopeState(
                row["watermark"], row["last_success"], row["consecutive_failures"]
            )
            for row in rows
            if (row["account_id"], row["region"]) in ours
        }
    )
    groups_rows = {
        (row["account_id"], row["region"]): (
            row["consecutive_failures"],
            row["last_success"] is not None,
        )
        for row in rows
        if row["scope"] == "(groups)"
    }
    metrics.set_targets(list(target_states(targets, groups_rows).values()), departed)
