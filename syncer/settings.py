"""Configuration, read only from the environment (prefix ``SYNCER_``).

AWS's own variables (credentials, ``AWS_ENDPOINT_URL_SAGEMAKER``, profiles)
are left to botocore; the only one read here is the region, because boto
reads ``AWS_DEFAULT_REGION`` but containers and most tools set ``AWS_REGION``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from syncer.errors import ConfigError
from syncer.logging import redact_dsn, remember_secrets

ENV_PREFIX = "SYNCER_"
# Upper bounds keep durations within what timedelta and PostgreSQL's settings
# (statement_timeout is an int of milliseconds, and twice it bounds an idle
# transaction) can hold; larger values crashed the service instead of being refused.
YEAR_SECONDS = 365 * 24 * 3600
DAY_SECONDS = 24 * 3600
# botocore's rule for a region name; anything else failed only at the first
# client, after the schema had been migrated, without naming the variable.
_REGION_NAME = re.compile(r"^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$")
# IAM's rules for a role name (a path may precede it), an account id, and the
# id of an organizational unit or of the organization's root.
_ROLE_NAME = re.compile(r"^(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,64}$")
_ACCOUNT_ID = re.compile(r"^\d{12}$")
_PARENT_ID = re.compile(r"^(?:ou-[0-9a-z]{4,32}-[0-9a-z]{8,32}|r-[0-9a-z]{4,32})$")
# Read from the environment by the test suite, not by the service.
_KNOWN_ELSEWHERE = ("SYNCER_TEST_DATABASE_URL",)

CommaList = Annotated[list[str], NoDecode]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        case_sensitive=False,
        extra="ignore",
        frozen=True,
        # "inf" and "nan" parse as floats; no duration or rate means either.
        allow_inf_nan=False,
    )

    database_url: SecretStr
    interval_seconds: float = Field(300, gt=0, le=YEAR_SECONDS)
    reconcile_interval_seconds: float = Field(3600, gt=0, le=YEAR_SECONDS)
    lookback_seconds: float = Field(300, ge=0, le=YEAR_SECONDS)
    concurrency: int = Field(16, ge=1, le=256)
    # Pages written at once. Each is one round trip of CPU-bound work in
    # PostgreSQL: beyond the database's cores, more writers only contend
    # (16 writers cost a third more CPU than 2 for the same rows), and two
    # store ~700 pages/s on two cores, far above the API rate cap.
    database_connections: int = Field(2, ge=1, le=256)
    # The ceiling per target (account x region); the allowed rate adapts below
    # it unless adaptive_rate is off (then it is a fixed cap per operation class).
    max_requests_per_second: float = Field(10, gt=0)
    adaptive_rate: bool = True
    page_size: int = Field(100, ge=1, le=100)
    max_attempts: int = Field(8, ge=1, le=20)
    api_timeout_seconds: float = Field(30, gt=0, le=DAY_SECONDS)
    statement_timeout_seconds: float = Field(60, gt=0, le=DAY_SECONDS)
    # What sits between the service and PostgreSQL: "transaction" for a
    # transaction-mode pooler (PgBouncer, pooled endpoints), where a prepared
    # statement does not outlive its transaction, so asyncpg's cache is off.
    database_pooler: Literal["none", "transaction"] = "none"
    # How long a replica's hold on the cycle lasts without renewal: a leader
    # killed mid-cycle is replaced within about this long.
    lease_seconds: float = Field(60, ge=3, le=DAY_SECONDS)
    group_name_contains: str | None = None
    include_unversioned: bool = True
    # Between reconciles, apply the approval, status and stage changes that
    # Search reports (needs sagemaker:Search); off: they wait for the reconcile.
    change_feed: bool = True
    # Governance details (who, approval note, tags, metadata, containers,
    # metrics) from Search records, beside the summaries (needs sagemaker:Search).
    details: bool = True
    # Let incremental cycles list only what the change feed names, once it is
    # trusted (syncer/plan.py); off: every incremental cycle lists every group.
    directed_cycles: bool = True
    regions: CommaList = Field(default_factory=list)
    role_arns: CommaList = Field(default_factory=list)
    # Discovery (syncer/targets.py): the organization's ACTIVE accounts, each
    # reached by assuming this role; optionally only those under some OUs.
    organization_role_name: str | None = None
    organization_units: CommaList = Field(default_factory=list)
    skip_accounts: CommaList = Field(default_factory=list)
    # A container listens on all interfaces; `demo` on 127.0.0.1.
    http_host: str = Field("0.0.0.0", min_length=1, max_length=255)  # noqa: S104
    http_port: int = Field(8080, ge=0, le=65535)
    # `run` and `once` apply pending migrations first; false: a separate job
    # migrates (`syncer migrate`), and the service, which may then hold DML
    # rights only, refuses to start on an older schema.
    migrate: bool = True
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["auto", "json", "console"] = "auto"

    @field_validator("regions", "role_arns", "organization_units", "skip_accounts", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("group_name_contains", "organization_role_name", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("database_pooler", mode="before")
    @classmethod
    def _lower_pooler(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower_format(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _postgres_dsn(cls, value: SecretStr) -> SecretStr:
        parts = urlsplit(value.get_secret_value())
        if parts.scheme not in ("postgresql", "postgres"):
            raise ValueError("must be a postgresql:// URL")
        try:
            parts.port  # noqa: B018 - raises for a port that is not a number in 0..65535
        except ValueError:
            raise ValueError("port must be a number from 0 to 65535") from None
        return value

    @field_validator("regions")
    @classmethod
    def _region_names(cls, value: list[str]) -> list[str]:
        for region in value:
            if not _REGION_NAME.match(region):
                raise ValueError(f"not a region name: {region[:40]!r}")
        return value

    @field_validator("role_arns")
    @classmethod
    def _role_arns(cls, value: list[str]) -> list[str]:
        for arn in value:
            if not arn.startswith("arn:") or ":role/" not in arn:
                raise ValueError(f"not an IAM role ARN: {arn!r}")
        return value

    @field_validator("organization_role_name")
    @classmethod
    def _role_name(cls, value: str | None) -> str | None:
        if value is not None and not _ROLE_NAME.match(value):
            raise ValueError(f"not an IAM role name: {value[:80]!r}")
        return value

    @field_validator("organization_units")
    @classmethod
    def _parent_ids(cls, value: list[str]) -> list[str]:
        for parent in value:
            if not _PARENT_ID.match(parent):
                raise ValueError(f"not an OU id (ou-...) or root id (r-...): {parent[:80]!r}")
        return value

    @field_validator("skip_accounts")
    @classmethod
    def _account_ids(cls, value: list[str]) -> list[str]:
        for account in value:
            if not _ACCOUNT_ID.match(account):
                raise ValueError(f"not a 12-digit account id: {account[:40]!r}")
        return value

    @model_validator(mode="after")
    def _units_need_discovery(self) -> Settings:
        # Without a role name there is no discovery for the OUs to filter: the
        # setting would silently change nothing.
        if self.organization_units and not self.organization_role_name:
            raise ValueError(
                "SYNCER_ORGANIZATION_UNITS needs SYNCER_ORGANIZATION_ROLE_NAME (discovery)"
            )
        return self

    @model_validator(mode="after")
    def _reconcile_not_faster_than_cycles(self) -> Settings:
        if self.reconcile_interval_seconds < self.interval_seconds:
            raise ValueError("SYNCER_RECONCILE_INTERVAL_SECONDS must be >= SYNCER_INTERVAL_SECONDS")
        return self

    def region_list(self, environ: Mapping[str, str]) -> list[str]:
        """Regions to mirror: SYNCER_REGIONS, else AWS_REGION / AWS_DEFAULT_REGION."""
        if self.regions:
            return list(self.regions)
        for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
            region = environ.get(name, "").strip()
            if region:
                if not _REGION_NAME.match(region):
                    raise ConfigError(f"{name}: not a region name: {region[:40]!r}")
                return [region]
        raise ConfigError("SYNCER_REGIONS: no region configured; set SYNCER_REGIONS or AWS_REGION")

    def redacted_database_url(self) -> str:
        return redact_dsn(self.database_url.get_secret_value())


def known_variables() -> list[str]:
    """Every SYNCER_* variable that something here reads."""
    names = [f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields]
    return sorted([*names, *_KNOWN_ELSEWHERE])


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """One line for each set SYNCER_* variable that nothing reads, with the nearest known name.

    A misspelt name (SYNCER_ORGANISATION_ROLE_NAME) would otherwise be ignored
    in silence, and the service would mirror something other than was meant.
    """
    known = known_variables()
    lines = []
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper in known:
            continue
        # Compared without the prefix, which every name shares.
        stems = [k.removeprefix(ENV_PREFIX) for k in known]
        near = difflib.get_close_matches(upper.removeprefix(ENV_PREFIX), stems, n=1, cutoff=0.6)
        hint = f"; did you mean {ENV_PREFIX}{near[0]}?" if near else ""
        lines.append(f"{name} is not a registry-sync setting and is ignored{hint}")
    return lines


def load_settings(**overrides: object) -> Settings:
    """Settings from the process environment; keyword overrides win (used by `demo`).

    Raises ConfigError with one line naming the first offending variable.
    """
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(_one_line(exc)) from None
    remember_secrets(settings.database_url.get_secret_value())
    return settings


def _one_line(exc: ValidationError) -> str:
    error = exc.errors(include_url=False, include_input=False)[0]
    field = ".".join(str(part) for part in error["loc"])
    name = f"{ENV_PREFIX}{field.upper()}" if field else "configuration"
    message = error["msg"]
    if error["type"] == "missing":
        message = "is required"
        return f"{name} {message}"
    return f"{name}: {message}"
