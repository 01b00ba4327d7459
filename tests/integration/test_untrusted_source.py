"""What SageMaker sends is untrusted: its error text, its strings, its paging.

- An error's detail stays in the service's log (masked); the tables that
  sagemaker_reader selects get the code and a bounded first line.
- Its strings reach a terminal (console logs, ``syncer status``) with their
  control characters escaped.
- Its paging cannot hold a scope forever: consecutive empty pages, and pages
  per listing, are bounded.
"""

from __future__ import annotations

import io
import json

import asyncpg
import pytest

from standin.environment import service_env
from standin.sagemaker import Faults, Registry, StandIn, serve_in_thread
from syncer.aws.registry import RegistrySource
from syncer.errors import ListingError
from syncer.logging import STORED_ERROR_CHARS, configure_logging
from tests.acceptance.cli import syncer
from tests.conftest import sync_once

ROLE = "RegistrySyncProd"
SESSION = "botocore-session-1764480000"
TOKEN = "IQoJb3JpZ2luX2VjEJr-session-token-value"
# An AccessDenied message as AWS writes it, followed by what a signature error
# appends: the canonical request, with the session token among its headers.
DENIED = (
    f"User: arn:aws:sts::123456789012:assumed-role/{ROLE}/{SESSION} is not authorized to "
    "perform: sagemaker:ListModelPackages on resource: "
    "arn:aws:sagemaker:us-east-1:123456789012:model-package/churn/* "
    "because no identity-based policy allows the sagemaker:ListModelPackages action"
    "\n\nThe Canonical String for this request should have been\n'POST\n/\n\n"
    "host:api.sagemaker.us-east-1.amazonaws.com\n"
    f"x-amz-security-token:{TOKEN}\n'"
)


async def test_a_scope_error_is_stored_as_its_code_and_a_bounded_first_line(
    database_url: str, db: asyncpg.Connection
) -> None:
    registry = Registry()
    registry.create_group("churn")
    registry.create_package("churn")
    # Search too: the change feed and the governance details keep errors of their own.
    faults = Faults(deny_operations={"ListModelPackages", "Search"}, deny_message=DENIED)
    log = io.StringIO()
    configure_logging("INFO", "json", stream=log)
    with serve_in_thread(StandIn(registry, faults)) as endpoint:
        result = await sync_once(database_url, endpoint)
    assert result.status in ("partial", "failed"), result

    stored = [
        row["last_error"]
        for row in await db.fetch(
            "SELECT last_error FROM sagemaker.sync_state WHERE last_error IS NOT NULL"
        )
    ]
    run_errors = json.loads(
        await db.fetchval("SELECT errors FROM sagemaker.sync_runs ORDER BY run_id DESC LIMIT 1")
    )
    switched_off = dict(
        await db.fetch("SELECT feature, reason FROM sagemaker.feature_availability")
    )
    texts = stored + list(switched_off.values()) + [e["error"] for e in run_errors]
    assert stored and len(run_errors) == len(stored), (stored, run_errors)
    assert {"change_feed", "details"} <= set(switched_off), switched_off
    for text in texts:
        assert "AccessDeniedException" in text
        assert "arn:aws:sts::123456789012:***" in text
        assert "\n" not in text and len(text) <= STORED_ERROR_CHARS
        for secret in (ROLE, SESSION, TOKEN, "Canonical String"):
            assert secret not in text, text

    # The detail is in the service's log, the session token masked.
    failures = [
        json.loads(line) for line in log.getvalue().splitlines() if '"sync.scope_failed"' in line
    ]
    assert failures and all("x-amz-security-token:***" in f["error"] for f in failures)
    assert all(ROLE in f["error"] for f in failures)
    assert TOKEN not in log.getvalue()


# ---------------------------------------------------------------- control characters
# A group name and an error message that would retitle, clear and recolour a
# terminal, and forge a line of output, if printed raw.
EVIL_GROUP = "churn\x1b]0;owned\x07\x1b[2J\u202e\nFORGED line"
# Without whitespace: structlog's console renderer quotes (and so escapes) only
# values with spaces or quotes in them; this one it printed as it was.
BARE_GROUP = "evil\x1b]0;owned\x07\x1b[2J\u202e"
EVIL_ERROR = "denied \x1b[31mred\x1b[0m \x9b2J for you"
RAW = ("\x1b", "\x07", "\x9b", "\u202e")


def no_raw_controls(text: str) -> None:
    for char in RAW:
        assert char not in text, (char, text)
    assert not any(line.startswith("FORGED") for line in text.splitlines()), text


def test_sagemaker_strings_reach_the_console_log_and_status_escaped(database_url: str) -> None:
    registry = Registry()
    for group in (EVIL_GROUP, BARE_GROUP):
        registry.create_group(group)
        registry.create_package(group)
    standin = StandIn(registry)
    with serve_in_thread(standin) as endpoint:
        env = service_env(database_url, endpoint, SYNCER_LOG_FORMAT="console")
        assert syncer("once", env=env).returncode == 0  # the groups' scopes, by name
        standin.faults = Faults(deny_operations={"ListModelPackages"}, deny_message=EVIL_ERROR)
        once = syncer("once", env=env)
        status = syncer("status", env=env)
    assert once.returncode == 1, once.stderr
    assert status.returncode == 0, status.stderr
    assert "sync.scope_failed" in once.stderr
    no_raw_controls(once.stdout + once.stderr)
    no_raw_controls(status.stdout + status.stderr)
    # Escaped, not dropped: what was there can still be read.
    assert "churn\\x1b]0;owned\\x07\\x1b[2J\\u202e\\nFORGED line" in status.stdout
    assert "denied \\x1b[31mred\\x1b[0m \\x9b2J for you" in status.stdout


# ---------------------------------------------------------------- endless listings
@pytest.mark.parametrize(
    ("bounds", "message"),
    [
        ({"max_empty_pages": 25}, "25 empty pages in a row, each with a new NextToken"),
        ({"max_pages": 10}, "more than 10 pages, each with a new NextToken"),
    ],
)
async def test_a_listing_that_never_ends_fails_its_scope_and_the_cycle_ends(
    database_url: str,
    db: asyncpg.Connection,
    monkeypatch: pytest.MonkeyPatch,
    bounds: dict[str, int],
    message: str,
) -> None:
    """Every listing answers empty pages, each with a new token, without end (no
    token repeats, so only the bounds can stop it). Without them this never returns."""
    for name, value in bounds.items():
        monkeypatch.setattr(RegistrySource, name, value)
    registry = Registry()
    registry.create_group("churn")
    registry.create_package("churn")
    standin = StandIn(registry, Faults(empty_pages_with_token=10**9))
    with serve_in_thread(standin) as endpoint:
        result = await sync_once(database_url, endpoint, change_feed=False)
    assert result.status == "failed", result
    errors = dict(
        await db.fetch(
            "SELECT scope_kind, last_error FROM sagemaker.sync_state WHERE last_error IS NOT NULL"
        )
    )
    assert set(errors) == {"groups", "packages"}, errors
    for error in errors.values():
        assert message in error, error
    limit = next(iter(bounds.values()))
    assert standin.calls["ListModelPackageGroups"] == limit


@pytest.mark.parametrize(
    ("bounds", "message"),
    [
        ({"max_empty_pages": 25}, "25 empty pages in a row, each with a new NextToken"),
        ({"max_pages": 10}, "more than 10 pages, each with a new NextToken"),
    ],
)
async def test_organization_discovery_that_never_ends_is_bounded_as_the_listings_are(
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    bounds: dict[str, int],
    message: str,
) -> None:
    """Organizations' ListAccounts answers empty pages with a new token each, without
    end; before discovery shared the listings' bounds it stopped only on a repeat."""
    for name, value in bounds.items():
        monkeypatch.setattr(RegistrySource, name, value)
    standin = StandIn(Registry(), Faults(empty_pages_with_token=10**9))
    with serve_in_thread(standin) as endpoint, pytest.raises(ListingError, match=message):
        await sync_once(database_url, endpoint, organization_role_name="RegistryReader")
    assert standin.calls["ListAccounts"] == next(iter(bounds.values()))


# ---------------------------------------------------------------- one form for every error
SESSION_TOKEN = "FwoGZXIvYXdzEOr-echoed-session-token-7e1d"
# An InvalidSignatureException whose first line echoes the token in a form no
# pattern for headers catches (quoted, as some endpoints write it).
ECHOED = (
    f"Signature expired; request header 'X-Amz-Security-Token' was '{SESSION_TOKEN}' "
    "and the signing role arn:aws:sts::123456789012:assumed-role/OrgReader/maria"
)


def test_an_echoed_session_token_never_reaches_status_status_json_or_check(
    database_url: str,
) -> None:
    """Organizations answers discovery with an error that echoes the request's token."""
    faults = Faults(
        deny_operations={"ListAccounts"},
        deny_code="InvalidSignatureException",
        deny_message=ECHOED,
    )
    with serve_in_thread(StandIn(Registry(), faults)) as endpoint:
        env = service_env(
            database_url,
            endpoint,
            AWS_SESSION_TOKEN=SESSION_TOKEN,
            SYNCER_ORGANIZATION_ROLE_NAME="RegistryReader",
        )
        assert syncer("migrate", env=env).returncode == 0
        runs = {args: syncer(*args, env=env) for args in (("status",), ("status", "--json"))}
        runs[("check",)] = syncer("check", env=env)
    text = runs[("status",)].stdout
    report = json.loads(runs[("status", "--json")].stdout)
    assert (
        "InvalidSignatureException" in text
        and "InvalidSignatureException" in report["targets"]["error"]
    )
    assert "InvalidSignatureException" in runs[("check",)].stdout
    for args, done in runs.items():
        shown = done.stdout + done.stderr
        assert SESSION_TOKEN not in shown, (args, shown)
        assert "OrgReader/maria" not in shown, (args, shown)


def test_check_prints_an_endpoints_error_escaped_and_as_one_line(database_url: str) -> None:
    """ESC sequences that clear the screen and set the title, and a forged "ok" line."""
    forged = (
        "\x1b[2J\x1b]0;owned\x07denied\nok    sagemaker 123456789012/us-east-1: listed 9 group(s)"
    )
    faults = Faults(deny_operations={"ListModelPackageGroups"}, deny_message=forged)
    with serve_in_thread(StandIn(Registry(), faults)) as endpoint:
        done = syncer("check", env=service_env(database_url, endpoint))
    assert done.returncode == 2, done.stdout + done.stderr
    no_raw_controls(done.stdout)
    assert not any(line.startswith("ok    sagemaker") for line in done.stdout.splitlines())
    assert "\\x1b[2J\\x1b]0;owned\\x07denied" in done.stdout
