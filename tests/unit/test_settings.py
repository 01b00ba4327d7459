from __future__ import annotations

import os
from pathlib import Path

import pytest

from syncer.errors import ConfigError
from syncer.logging import mask_secrets, redact_dsn
from syncer.settings import load_settings
from syncer.variables import unknown_variables

DSN = "postgresql://svc:s3cret@db.example:5432/registry"


def test_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCER_DATABASE_URL", DSN)
    s = load_settings()
    # Forty seconds: new versions and approvals land within a minute, at four
    # calls a quiet cycle (0.1 calls/s) whatever the registry's size.
    assert (s.interval_seconds, s.reconcile_interval_seconds, s.lookback_seconds) == (
        40,
        3600,
        300,
    )
    assert (s.concurrency, s.max_requests_per_second, s.page_size) == (16, 10, 100)
    assert s.include_unversioned is True and s.group_name_contains is None
    assert (s.http_port, s.log_level, s.log_format) == (8080, "INFO", "auto")


def test_comma_lists_and_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCER_DATABASE_URL", DSN)
    monkeypatch.setenv("SYNCER_REGIONS", " eu-west-1, us-east-1 ,")
    monkeypatch.setenv(
        "SYNCER_ROLE_ARNS", "arn:aws:iam::111111111111:role/a,arn:aws:iam::222222222222:role/b"
    )
    monkeypatch.setenv("SYNCER_LOG_LEVEL", "debug")
    monkeypatch.setenv("SYNCER_LOG_FORMAT", "JSON")
    monkeypatch.setenv("SYNCER_INCLUDE_UNVERSIONED", "false")
    s = load_settings()
    assert s.regions == ["eu-west-1", "us-east-1"]
    assert len(s.role_arns) == 2
    assert (s.log_level, s.log_format, s.include_unversioned) == ("DEBUG", "json", False)


def test_region_falls_back_to_aws_region_then_default_region(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SYNCER_DATABASE_URL", DSN)
    s = load_settings()
    assert s.region_list({"AWS_DEFAULT_REGION": "eu-central-1"}) == ["eu-central-1"]
    assert s.region_list({"AWS_REGION": "us-west-2", "AWS_DEFAULT_REGION": "x"}) == ["us-west-2"]
    with pytest.raises(ConfigError, match="SYNCER_REGIONS"):
        s.region_list({})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "SYNCER_DATABASE_URL is required"),
        (
            {"SYNCER_DATABASE_URL": "mysql://x"},
            "SYNCER_DATABASE_URL: Value error, must be a postgresql:// URL",
        ),
        (
            {"SYNCER_CONCURRENCY": "0"},
            "SYNCER_CONCURRENCY: Input should be greater than or equal to 1",
        ),
        (
            {"SYNCER_PAGE_SIZE": "101"},
            "SYNCER_PAGE_SIZE: Input should be less than or equal to 100",
        ),
        (
            {"SYNCER_INTERVAL_SECONDS": "soon"},
            "SYNCER_INTERVAL_SECONDS: Input should be a valid number",
        ),
        ({"SYNCER_ROLE_ARNS": "admin"}, "SYNCER_ROLE_ARNS: Value error, not an IAM role ARN"),
        ({"SYNCER_LOG_FORMAT": "xml"}, "SYNCER_LOG_FORMAT: Input should be"),
    ],
)
def test_invalid_configuration_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    if "SYNCER_DATABASE_URL" not in env and env:
        monkeypatch.setenv("SYNCER_DATABASE_URL", DSN)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    text = str(info.value)
    assert text.startswith(message)
    assert "\n" not in text
    assert "s3cret" not in text


def test_password_never_in_reprs_or_redactions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCER_DATABASE_URL", DSN)
    s = load_settings()
    assert "s3cret" not in repr(s) and "s3cret" not in str(s)
    assert s.redacted_database_url() == "postgresql://svc:***@db.example:5432/registry"
    assert redact_dsn("postgresql://svc@h/db") == "postgresql://svc@h/db"
    assert mask_secrets(f"could not connect to {DSN}") == (
        "could not connect to postgresql://svc:***@db.example:5432/registry"
    )


def test_the_dsn_from_a_mounted_file_is_read_masked_and_exclusive(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """SYNCER_DATABASE_URL_FILE, as a Kubernetes Secret mounted as a file gives it."""
    secret = tmp_path / "url"
    secret.write_text(DSN.replace("s3cret", "fr0m-a-file") + "\n")
    monkeypatch.setenv("SYNCER_DATABASE_URL_FILE", str(secret))
    s = load_settings()
    assert s.database_url.get_secret_value() == DSN.replace("s3cret", "fr0m-a-file")
    assert "fr0m-a-file" not in mask_secrets("connect failed: fr0m-a-file")
    assert unknown_variables(dict(os.environ)) == []  # a known variable, not a typo

    monkeypatch.setenv("SYNCER_DATABASE_URL", DSN)
    with pytest.raises(ConfigError, match="SYNCER_DATABASE_URL and SYNCER_DATABASE_URL_FILE"):
        load_settings()
    monkeypatch.delenv("SYNCER_DATABASE_URL")
    monkeypatch.setenv("SYNCER_DATABASE_URL_FILE", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="SYNCER_DATABASE_URL_FILE: cannot read"):
        load_settings()
