"""The loop's progress watchdog, behind /healthz: how long nothing has visibly moved."""

from __future__ import annotations

from collections.abc import Callable

from syncer.aws.clients import ApiStats


class Progress:
    """The last moment the loop visibly moved: a cycle or scope boundary, a group
    page, a SageMaker attempt. Idle while it sleeps between cycles, which is not
    being stuck."""

    def __init__(self, stats: ApiStats, monotonic: Callable[[], float]) -> None:
        self._stats = stats
        self._monotonic = monotonic
        self.heartbeat = monotonic()
        self.idle = False
        self._calls_at_heartbeat = 0

    def beat(self) -> None:
        self.heartbeat = self._monotonic()

    def seconds_since_progress(self) -> float:
        """How long the loop has gone without visible progress; 0 while it sleeps."""
        if self.idle:
            return 0.0
        calls = self._stats.total
        if calls != self._calls_at_heartbeat:  # a SageMaker attempt since the last look
            self._calls_at_heartbeat = calls
            self.beat()
        return max(0.0, self._monotonic() - self.heartbeat)
