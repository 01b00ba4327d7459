"""Secrets in a DSN are masked by parsing it as asyncpg does, wherever a DSN can appear.

The examples are the issue's: a percent-encoded key that asyncpg decodes and
uses, a value with a space, and a scheme in capitals (which the settings and
asyncpg accept).
"""

from __future__ import annotations

import io
import json

import pytest
import structlog

from syncer.logging import configure_logging, dsn_secrets, get_logger, mask_secrets, redact_dsn
from syncer.settings import load_settings

CASES = [
    # (DSN, redacted)
    ("postgresql://u@h/db?pass%77ord=x", "postgresql://u@h/db?pass%77ord=***"),
    ("postgresql://u@h/db?password=a b", "postgresql://u@h/db?password=***"),
    ("POSTGRESQL://u:pw@h:5432/db", "POSTGRESQL://u:***@h:5432/db"),
    ("PostgreS://u:pw@h/db", "PostgreS://u:***@h/db"),
    ("postgresql://u:p%40ss@h/db", "postgresql://u:***@h/db"),
    ("postgresql://u:p@ss@h/db", "postgresql://u:***@h/db"),  # an unencoded "@" in it
    (
        "postgresql://u@h/db?PASSWORD=x&sslmode=require",
        "postgresql://u@h/db?PASSWORD=***&sslmode=require",
    ),
    (
        "postgresql://u@h/db?sslmode=verify-full&%73slpassword=k#f",
        "postgresql://u@h/db?sslmode=verify-full&%73slpassword=***#f",
    ),
    (
        "postgresql://u@h/db?pass+word=x",
        "postgresql://u@h/db?pass+word=x",
    ),  # "pass word": no secret
    ("postgresql://u@h/db?password=", "postgresql://u@h/db?password="),
    ("postgresql://svc@h/db", "postgresql://svc@h/db"),
]


@pytest.mark.parametrize(("dsn", "redacted"), CASES)
def test_redact_dsn(dsn: str, redacted: str) -> None:
    assert redact_dsn(dsn) == redacted


@pytest.mark.parametrize(("dsn", "redacted"), CASES)
def test_a_dsn_quoted_in_a_message_is_masked(dsn: str, redacted: str) -> None:
    if " " in dsn:  # inside free text a space ends the DSN; see the known-secrets test
        return
    assert mask_secrets(f"could not connect to '{dsn}': refused") == (
        f"could not connect to '{redacted}': refused"
    )


def test_the_secrets_of_a_dsn_written_and_decoded() -> None:
    assert dsn_secrets("postgresql://u:p%40ss@h/db?sslpassword=k%20ey") == {
        "p%40ss", "p@ss", "k%20ey", "k ey",
    }  # fmt: skip
    assert dsn_secrets("postgresql://u@h/db?pass%77ord=a+b") == {"a+b", "a b"}


def test_the_configured_dsns_secrets_are_masked_in_any_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A space ends a DSN inside other text; the configured one's secrets are known."""
    monkeypatch.setenv("SYNCER_DATABASE_URL", "postgresql://u@h/db?password=top secret")
    load_settings()
    text = "FATAL: the server quoted password=top secret back"
    assert "secret" not in mask_secrets(text)
    monkeypatch.setenv("SYNCER_DATABASE_URL", "postgresql://u:p%40ssw0rd@h/db")
    load_settings()
    assert mask_secrets("a message with p@ssw0rd in it") == "a message with *** in it"


def test_log_events_are_masked_in_every_value_and_format() -> None:
    for fmt in ("json", "console"):
        out = io.StringIO()
        configure_logging("INFO", fmt, stream=out)
        get_logger("t").warning(
            "db.error",
            error="cannot connect to POSTGRESQL://u:hunter22@h/db?pass%77ord=xyzzy1",
        )
        line = out.getvalue()
        assert "hunter22" not in line and "xyzzy1" not in line, line
        if fmt == "json":
            assert json.loads(line)["error"] == (
                "cannot connect to POSTGRESQL://u:***@h/db?pass%77ord=***"
            )
    structlog.reset_defaults()
