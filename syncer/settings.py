"""Configuration, read only from the environment (prefix ``SYNCER_``).

AWS's own variables (credentials, ``AWS_ENDPOINT_URL_SAGEMAKER``, profiles)
are left to botocore; the only one read here is the region, because boto
reads ``AWS_DEFAULT_REGION`` but containers and most tools set ``AWS_REGION``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from syncer.errors import ConfigError
from syncer.logging import redact_dsn, remember_secret, remember_secrets

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
# An ARN (of any partition) that names a role: "arn:" first, ":role/" somewhere.
_ROLE_ARN = re.compile(r"(?s)(?=arn:).*:role/")
# What SageMaker's NameContains accepts; anything else fails every listing.
_NAME_CONTAINS = re.compile(r"^[a-zA-Z0-9-]{1,63}$")
_PARENT_ID = re.compile(r"^(?:ou-[0-9a-z]{4,32}-[0-9a-z]{8,32}|r-[0-9a-z]{4,32})$")
# An SQS queue URL: a host, the owner's account id and the queue's name.
_QUEUE_URL = re.compile(r"^https?://[A-Za-z0-9.\-]+(:\d+)?/\d{12}/[A-Za-z0-9_\-]{1,80}(\.fifo)?$")
# What these settings must look like (each item of a list), and the line that
# says so otherwise; anything else failed only at the first call that used it.
_FORMS: dict[str, tuple[re.Pattern[str], str]] = {
    "group_name_contains": (
        _NAME_CONTAINS,
        "letters, digits and hyphens only, at most 63 characters",
    ),
    "organization_role_name": (_ROLE_NAME, "not an IAM role name"),
    "role_arns": (_ROLE_ARN, "not an IAM role ARN"),
    "events_queue_url": (
        _QUEUE_URL,
        "not an SQS queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>)",
    ),
    "regions": (_REGION_NAME, "not a region name"),
    "organization_units": (_PARENT_ID, "not an OU id (ou-...) or root id (r-...)"),
    "skip_accounts": (_ACCOUNT_ID, "not a 12-digit account id"),
}

CommaList = Annotated[list[str], NoDecode]
# A secret may come from a file instead: SYNCER_<NAME>_FILE names it (a mounted
# Kubernetes Secret, a compose secret), so that it is in no environment.
FILE_SUFFIX = "_FILE"


class SecretFiles(PydanticBaseSettingsSource):
    """The secret settings (SecretStr) whose SYNCER_<NAME>_FILE is set, read from that
    file; its last line break dropped. Both the variable and its file: an error."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        super().__init__(settings_cls)
        self._environ = {k.upper(): v for k, v in environ.items()}

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # everything is read in __call__

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name in secret_fields():
            variable = f"{ENV_PREFIX}{name.upper()}"
            path = self._environ.get(variable + FILE_SUFFIX)
            if not path:
                continue
            if self._environ.get(variable):
                raise ConfigError(f"{variable} and {variable}{FILE_SUFFIX} are both set; set one")
            try:
                with open(path, encoding="utf-8") as file:
                    values[name] = file.read().removesuffix("\n").removesuffix("\r")
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(
                    f"{variable}{FILE_SUFFIX}: cannot read {path[:200]!r}: "
                    f"{getattr(exc, 'strerror', None) or type(exc).__name__}"
                ) from None
        return values


def secret_fields() -> list[str]:
    """The settings that hold secrets (and may come from a file)."""
    return [
        name
        for name, field in Settings.model_fields.items()
        if field.annotation in (SecretStr, SecretStr | None)
    ]


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
        "and other options as query parameters. Its password is never logged. "
        "Or `SYNCER_DATABASE_URL_FILE`: a file holding it (a mounted secret)."
    )
    interval_seconds: float = Field(
        40,
        gt=0,
        le=YEAR_SECONDS,
        description="Seconds from the start of one incremental cycle to the start of the next; "
        "a quiet cycle costs four SageMaker calls (three without deployments).",
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
        None,
        description="Mirror only the groups whose name contains this text (letters, digits "
        "and hyphens, at most 63: what SageMaker's `NameContains` accepts).",
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
    identities: Literal["keep", "hash", "drop"] = Field(
        "keep",
        description="What the details and the change history keep of who registered, modified "
        "and approved: `keep` the IAM ARNs and Studio profiles; `hash` a keyed hash of each "
        "(SYNCER_IDENTITY_KEY), so counts per person still work; `drop` nothing. Other than "
        "`keep`, the Search records are stored without CreatedBy and LastModifiedBy.",
    )
    identity_key: SecretStr | None = Field(
        None,
        min_length=16,
        description="The secret key of `SYNCER_IDENTITIES=hash` (HMAC-SHA256), at least 16 "
        "characters; changing it changes every pseudonym. Or `SYNCER_IDENTITY_KEY_FILE`.",
    )
    deleted_retention_days: int | None = Field(
        None,
        ge=1,
        le=36500,
        description="Days after which the history and the details of a package marked deleted "
        "are purged (at a reconcile); unset: kept.",
    )
    deployments: bool = Field(
        True,
        description="Mirror models and endpoints from `Search`: which version runs on which "
        "endpoint, since when. False reads none.",
    )
    regions: CommaList = Field(
        default_factory=list,
        description="Regions to mirror; unset: `AWS_REGION`, else `AWS_DEFAULT_REGION`.",
    )
    role_arns: CommaList = Field(
        default_factory=list,
        description="ARNs of IAM roles to assume, one per account to mirror.",
    )
    external_id: str | None = Field(
        None,
        min_length=2,
        max_length=1224,
        pattern=r"^[\w+=,.@:/-]+$",
        description="`ExternalId` sent with every `sts:AssumeRole`, for member roles whose "
        "trust policy requires one (deploy/member-role.yaml's `ExternalId`).",
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
    scope_metrics: bool = Field(
        True,
        description="`/metrics` has series per group (lag, last success, failures), labelled "
        "with its name; false: one series per account and region for all its groups.",
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

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, SecretFiles(settings_cls, os.environ)

    @field_validator("regions", "role_arns", "organization_units", "skip_accounts", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator(
        "group_name_contains",
        "organization_role_name",
        "external_id",
        "events_queue_url",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("identities", "database_pooler", "log_format", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator(*_FORMS)
    @classmethod
    def _in_form(cls, value: Any, info: ValidationInfo) -> Any:
        pattern, otherwise = _FORMS[info.field_name or ""]
        for item in value if isinstance(value, list) else [value] if value is not None else []:
            if not pattern.match(item):
                raise ValueError(f"{otherwise}: {item[:80]!r}")
        return value

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

    @model_validator(mode="after")
    def _hash_needs_a_key(self) -> Settings:
        if self.identities == "hash" and self.identity_key is None:
            raise ValueError("SYNCER_IDENTITIES=hash needs SYNCER_IDENTITY_KEY (a secret)")
        return self

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


def load_settings(**overrides: object) -> Settings:
    """Settings from the process environment; keyword overrides win (used by `demo`).

    Raises ConfigError with one line naming the first offending variable.
    """
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(_one_line(exc)) from None
    remember_secrets(settings.database_url.get_secret_value())
    if settings.identity_key is not None:
        remember_secret(settings.identity_key.get_secret_value())
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
