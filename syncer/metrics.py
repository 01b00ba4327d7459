"""Prometheus metrics, in a registry of their own (one per service instance)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from syncer.source import ApiStats


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.cycles = Counter(
            "syncer_cycles", "Sync cycles run, by mode and outcome.", ["mode", "status"], registry=r
        )
        self.cycle_seconds = Histogram(
            "syncer_cycle_duration_seconds",
            "Wall time of a sync cycle.",
            ["mode"],
            buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1200, 3600),
            registry=r,
        )
        self.scopes = Counter(
            "syncer_scopes", "Scopes synced, by outcome.", ["outcome"], registry=r
        )
        self.rows = Counter(
            "syncer_rows",
            "Package rows written, by action (inserted, updated, deleted).",
            ["action"],
            registry=r,
        )
        self.items_skipped = Counter(
            "syncer_items_skipped", "Listed items that could not be mirrored.", registry=r
        )
        self.api_calls = Counter(
            "syncer_api_calls",
            "SageMaker HTTP attempts, by operation and outcome (ok, throttled, ...).",
            ["operation", "outcome"],
            registry=r,
        )
        self.throttles = Counter(
            "syncer_api_throttles", "SageMaker requests answered with throttling.", registry=r
        )
        self.watermark_lag = Gauge(
            "syncer_watermark_lag_seconds",
            "Seconds since the newest package stored, per scope (growing means no new "
            "packages, or a stuck scope).",
            ["account_id", "region", "scope"],
            registry=r,
        )
        self.last_success = Gauge(
            "syncer_last_success_timestamp_seconds",
            "Unix time of the last cycle in which every scope succeeded.",
            registry=r,
        )
        self.last_cycle = Gauge(
            "syncer_last_cycle_timestamp_seconds",
            "Unix time of the end of the last cycle, whatever its outcome.",
            registry=r,
        )
        self.up = Gauge(
            "syncer_database_up", "1 when the last database operation worked.", registry=r
        )
        self._api_seen: dict[tuple[str, str], int] = {}

    def observe_api(self, stats: ApiStats) -> None:
        """Fold the cumulative attempt counts of the source into the counters."""
        for (operation, outcome), total in list(stats.attempts.items()):
            delta = total - self._api_seen.get((operation, outcome), 0)
            if delta > 0:
                self.api_calls.labels(operation, outcome).inc(delta)
                if outcome == "throttled":
                    self.throttles.inc(delta)
            self._api_seen[(operation, outcome)] = total
