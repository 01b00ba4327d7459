"""Configuration, read only from the environment (prefix ``SYNCER_``).

AWS's own variables (credentials, ``AWS_ENDPOINT_URL_SAGEMAKER``, profiles)
are left to botocore; the only one read here is the region, because boto
reads ``AWS_DEFAULT_REGION`` but containers and most tools set ``AWS_REGION``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Annotated, Literal, get_args, get_origin
from urllib.parse import urlsplit

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
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
# An SQS queue URL: a host, the owner's account id and the queue's name.
_QUEUE_URL = re.compile(r"^https?://[A-Za-z0-9.\-]+(:\d+)?/\d{12}/[A-Za-z0-9_\-]{1,80}(\.fifo)?$")
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

    database_url: SecretStr = Field(
        description="PostgreSQL DSN, `postgresql://user@host:port/database`, with `sslmode=` "
        "and other options as query parameters. Its password is never logged."
    )
    interval_seconds: float = Field(
        300,
        gt=0,
        le=YEAR_SECONDS,
        description="Seconds from the start of one incremental cycle to the start of the next.",
    )
    reconcile_interval_seconds: float = Field(
        3600,
        gt=0,
        le=YEAR_SECONDS,
        description="Seconds between full reconciles, which update every mutable field and "
        "mark deletions; at least the interval.",
    )
    lookback_seconds: float = Field(
        300,
        ge=0,
        le=YEAR_SECONDS,
        description="How far behind its watermark each incremental listing, and the change "
        "feed, starts reading again: SageMaker's listings are eventually consistent.",
    )
    concurrency: int = Field(
        16,
        ge=1,
        le=256,
        description="Scopes listed at once, over all accounts and regions; "
        "also sizes the HTTP connection pool.",
    )
    database_connections: int = Field(
        2,
        ge=1,
        le=256,
        description="Listing pages written at once; about the database's cores. "
        "The pool holds two connections more.",
    )
    max_requests_per_second: float = Field(
        10,
        gt=0,
        description="Ceiling on SageMaker requests, retries included, per account and region.",
    )
    adaptive_rate: bool = Field(
        True,
        description="Find each account and region's quota below the ceiling; "
        "false: a fixed rate of the ceiling per operation class.",
    )
    page_size: int = Field(100, ge=1, le=100, description="`MaxResults` of each list call.")
    max_attempts: int = Field(
        8, ge=1, le=20, description="Attempts per SageMaker call, the first one included."
    )
    api_timeout_seconds: float = Field(
        30, gt=0, le=DAY_SECONDS, description="Read timeout of one SageMaker request."
    )
    statement_timeout_seconds: float = Field(
        60,
        gt=0,
        le=DAY_SECONDS,
        description="PostgreSQL `statement_timeout` of every transaction, "
        "and the lock timeout of a listing page's write.",
    )
    database_pooler: Literal["none", "transaction"] = Field(
        "none",
        description="`transaction` when a transaction-mode pooler sits in front of PostgreSQL: "
        "no prepared statement is then kept between transactions.",
    )
    lease_seconds: float = Field(
        60,
        ge=3,
        le=DAY_SECONDS,
        description="How long a replica's hold on the cycle lasts unless renewed; "
        "a leader that dies is replaced within about this long.",
    )
    group_name_contains: str | None = Field(
        None, description="Mirror only the groups whose name contains this text."
    )
    include_unversioned: bool = Field(True, description="Also mirror unversioned packages.")
    change_feed: bool = Field(
        True,
        description="Between reconciles, apply the approval, status and stage changes that "
        "`Search` reports; false when the role may not call `sagemaker:Search`.",
    )
    details: bool = Field(
        True,
        description="Mirror governance details from `Search` records: who registered and "
        "approved, notes, tags, metadata, containers, metrics. False stores none.",
    )
    directed_cycles: bool = Field(
        True,
        description="Once the change feed has earned trust, incremental cycles list only "
        "the groups it names; false: every incremental cycle lists every group.",
    )
    regions: CommaList = Field(
        default_factory=list,
        description="Regions to mirror; unset: `AWS_REGION`, else `AWS_DEFAULT_REGION`.",
    )
    role_arns: CommaList = Field(
        default_factory=list,
        description="ARNs of IAM roles to assume, one per account to mirror.",
    )
    organization_role_name: str | None = Field(
        None,
        description="Discover the organization's ACTIVE accounts at every cycle "
        "and assume the role of this name in each.",
    )
    organization_units: CommaList = Field(
        default_factory=list,
        description="OU or root ids: only the accounts under them, at any depth. "
        "Needs the organization role name.",
    )
    skip_accounts: CommaList = Field(
        default_factory=list,
        description="Account ids never mirrored, however they were named.",
    )
    events_queue_url: str | None = Field(
        None,
        max_length=1024,
        description="URL of an SQS queue that SageMaker's model-package events reach through "
        "EventBridge: the service long-polls it beside its cycles and applies each event "
        "within seconds (docs/operations/events.md).",
    )
    events_interval_seconds: float = Field(
        300,
        gt=0,
        le=YEAR_SECONDS,
        description="Seconds between incremental cycles while the events queue answers: "
        "never shorter than the interval, never longer than the reconcile interval.",
    )
    http_host: str = Field(
        "0.0.0.0",  # noqa: S104 - a container listens on all interfaces
        min_length=1,
        max_length=255,
        description="Address that `/healthz`, `/readyz` and `/metrics` listen on; "
        "`syncer demo` uses 127.0.0.1.",
    )
    http_port: int = Field(
        8080, ge=0, le=65535, description="Port of those endpoints; 0 turns them off."
    )
    migrate: bool = Field(
        True,
        description="`run` and `once` apply pending migrations first; false: a separate "
        "`syncer migrate` does, and the service refuses an older schema.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="The least severe level logged."
    )
    log_format: Literal["auto", "json", "console"] = Field(
        "auto", description="`json` or `console`; `auto` is console on a terminal, else JSON."
    )

    @field_validator("regions", "role_arns", "organization_units", "skip_accounts", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator(
        "group_name_contains", "organization_role_name", "events_queue_url", mode="before"
    )
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

    @field_validator("events_queue_url")
    @classmethod
    def _queue_url(cls, value: str | None) -> str | None:
        if value is not None and not _QUEUE_URL.match(value):
            raise ValueError(
                "not an SQS queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>)"
            )
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


REFERENCE_BEGIN = "<!-- settings: generated by `make docs` from syncer/settings.py -->\n"
REFERENCE_END = "<!-- settings: end -->\n"
_SPANS = {YEAR_SECONDS: "a year", DAY_SECONDS: "a day"}


def reference() -> str:
    """Every setting as a row of a markdown table: the text of docs/configuration.md."""
    rows = ["| variable | default | values | meaning |", "| --- | --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        cells = (f"`{ENV_PREFIX}{name.upper()}`", _default(field), _values(field))
        rows.append(f"| {' | '.join(cells)} | {field.description} |")
    return "\n".join(rows) + "\n"


def with_reference(page: str) -> str:
    """``page`` with the text between the reference markers replaced by ``reference()``."""
    head, begin, rest = page.partition(REFERENCE_BEGIN)
    _, end, tail = rest.partition(REFERENCE_END)
    if not (begin and end):
        raise ValueError("the page has no settings markers")
    return f"{head}{begin}{reference()}{end}{tail}"


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    if field.default_factory is not None or field.default is None:
        return "unset"
    if isinstance(field.default, bool):
        return f"`{str(field.default).lower()}`"
    if isinstance(field.default, float) and field.default.is_integer():
        return f"`{int(field.default)}`"
    return f"`{field.default}`"


def _values(field: FieldInfo) -> str:
    annotation = field.annotation
    if get_origin(annotation) is Literal:
        return ", ".join(f"`{value}`" for value in get_args(annotation))
    if annotation is bool:
        return "`true`, `false`"
    if get_origin(annotation) is list:
        return "comma list"
    bounds = {
        key: getattr(meta, key)
        for meta in field.metadata
        for key in ("gt", "ge", "le", "min_length", "max_length")
        if getattr(meta, key, None) is not None
    }
    if not bounds:
        return "text"
    if "min_length" in bounds:
        return f"{bounds['min_length']} to {bounds['max_length']} characters"
    low = f"{bounds['ge']}" if "ge" in bounds else f"above {bounds['gt']}" if "gt" in bounds else ""
    if "le" not in bounds:
        return low
    high = _SPANS.get(bounds["le"], str(bounds["le"]))
    return f"{low} to {high}" if "ge" in bounds else f"{low}, at most {high}"


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
