"""The SageMaker client's configuration, as botocore will see it."""

from __future__ import annotations

import pytest

from syncer.aws.clients import ApiStats, SourceOptions, SourcePool, retry_mode


@pytest.mark.parametrize(
    ("value", "mode"),
    [
        (None, "standard"),
        ("adaptive", "adaptive"),
        ("standard", "standard"),
        ("legacy", "standard"),
    ],
)
def test_retry_mode_is_standard_unless_aws_retry_mode_asks_for_adaptive(
    value: str | None, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if value is None:
        monkeypatch.delenv("AWS_RETRY_MODE", raising=False)
    else:
        monkeypatch.setenv("AWS_RETRY_MODE", value)
    assert retry_mode() == mode
    config = SourcePool(
        SourceOptions(concurrency=3, max_requests_per_second=5), ApiStats()
    )._config()
    assert config.retries == {"mode": mode, "total_max_attempts": 8}
    assert config.max_pool_connections == 5
