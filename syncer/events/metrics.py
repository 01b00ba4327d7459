"""The events' Prometheus metrics, in the service's registry (syncer/cycle/metrics.py)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from syncer.events.parse import DROP_REASONS

APPLIED_KINDS = ("changed", "created", "deleted")
IGNORED_REASONS = ("duplicate", "stale", "deleted", "not_in_mirror")


class EventMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.received = Counter(
            "syncer_events_received", "Messages received from the events queue.", registry=r
        )
        self.applied = Counter(
            "syncer_events_applied",
            "Events applied to the mirror, by kind: changed (a state change, newer than what "
            "was applied before), created (a package first seen in its event), deleted (a "
            "delete call from CloudTrail).",
            ["kind"],
            registry=r,
        )
        self.ignored = Counter(
            "syncer_events_ignored",
            "Events that changed nothing, by reason: duplicate, stale (older than what was "
            "applied), deleted (the row is marked deleted), not_in_mirror (its group is not "
            "mirrored yet: the listings store it).",
            ["reason"],
            registry=r,
        )
        self.dropped = Counter(
            "syncer_events_dropped",
            "Messages the service cannot use, deleted after one log line, by reason: "
            + ", ".join(DROP_REASONS)
            + ".",
            ["reason"],
            registry=r,
        )
        self.failed = Counter(
            "syncer_events_failed",
            "Messages whose apply failed (the database, say): left in the queue, redelivered.",
            registry=r,
        )
        self.ties = Counter(
            "syncer_events_ties",
            "Events of the same second as what was applied before, with other values: each "
            "settled by one DescribeModelPackage.",
            registry=r,
        )
        self.lag = Histogram(
            "syncer_events_lag_seconds",
            "From an event's time (EventBridge's, to the second) to the commit that applied it.",
            buckets=(0.5, 1, 2, 3, 5, 10, 30, 60, 300, 900, 3600),
            registry=r,
        )
        self.queue_up = Gauge(
            "syncer_events_queue_up",
            "1 while the events queue answers its long polls; 0 while it is unreachable or "
            "refuses them (syncer status says why): changes then wait for the cycles.",
            registry=r,
        )
        for kind in APPLIED_KINDS:  # zeros, so rate() and alerts see every series
            self.applied.labels(kind)
        for reason in IGNORED_REASONS:
            self.ignored.labels(reason)
        for reason in DROP_REASONS:
            self.dropped.labels(reason)
