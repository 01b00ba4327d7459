"""Typed, frozen records for what the registry lists, and how raw API dicts become them.

Parsing is defensive: the API is the source of truth, not of well-formedness.
A summary missing a required field, or with a value PostgreSQL cannot hold, is
skipped with a reason; unknown enum values and odd text are kept as they are.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

# ARNs are at most 2048 characters in the API model; anything longer is not an
# ARN and would also overflow a btree index entry (counted in bytes, as it is).
MAX_ARN_LENGTH = 2048
# A btree index entry holds about 2.7 kB, all its columns together. Indexed text
# other than the ARN (group name, approval status, life-cycle stage) must stay
# far below that: the API's own limits are 63 characters and short words.
MAX_INDEXED_BYTES = 256
# Lone UTF-16 surrogates (a JSON "\ud800" decodes to one) have no UTF-8 form.
_SURROGATE = re.compile("[\ud800-\udfff]")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The API's timestamp precision: one step past a moment that a strict bound
# (``CreationTimeAfter``) would leave out.
ONE_MILLISECOND = timedelta(milliseconds=1)
_FIRST, _LAST = datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)
UNVERSIONED = ""  # sync_state's group name for the unversioned scope


# What one stored record (a summary's raw, a Search record) may take, and how
# many tags a record may carry: far above what AWS's own field limits allow, so
# only a buggy or hostile endpoint's records are refused. Each such record is
# skipped with its ARN and the reason, and counted (OVERSIZED, on /metrics).
MAX_RECORD_BYTES = 256 * 1024
MAX_TAGS = 200
OVERSIZED: Counter[str] = Counter()  # records skipped, by what was too large


class InvalidRecord(ValueError):
    """A listed item that cannot be mirrored; the message says why."""


class Oversized(InvalidRecord):
    """A record larger than MAX_RECORD_BYTES, or with more than MAX_TAGS tags."""

    def __init__(self, what: str, message: str) -> None:
        super().__init__(message)
        OVERSIZED[what] += 1


def bounded(text: str, what: str = "record") -> str:
    """``text`` (a record's JSON), unless it is over MAX_RECORD_BYTES: then Oversized."""
    if len(text) * 4 > MAX_RECORD_BYTES and (size := len(text.encode())) > MAX_RECORD_BYTES:
        raise Oversized("record", f"{what} of {size} bytes, over the {MAX_RECORD_BYTES}-byte limit")
    return text


@dataclass(frozen=True, slots=True)
class Target:
    """One account in one region, reached with one set of credentials."""

    account_id: str
    region: str
    role_arn: str | None = None

    def __str__(self) -> str:
        return f"{self.account_id}/{self.region}"


@dataclass(frozen=True, slots=True)
class Scope:
    """The unit of listing, locking and watermarking: a group, or the unversioned packages."""

    target: Target
    group_name: str  # UNVERSIONED for the unversioned packages of the target

    @property
    def is_unversioned(self) -> bool:
        return self.group_name == UNVERSIONED

    def __str__(self) -> str:
        return f"{self.target}/{self.group_name or '(unversioned)'}"


@dataclass(frozen=True, slots=True)
class PackageGroup:
    arn: str
    name: str
    description: str | None
    creation_time: datetime
    status: str | None
    raw: str  # JSON text of the summary as received (NUL characters removed)


@dataclass(frozen=True, slots=True)
class PackageSummary:
    arn: str
    account_id: str
    region: str
    group_name: str | None
    version: int | None
    name: str | None
    description: str | None
    creation_time: datetime
    package_status: str | None
    approval_status: str | None
    life_cycle_stage: str | None
    life_cycle_stage_status: str | None
    life_cycle_stage_description: str | None
    registration_type: str | None
    raw: str


def parse_timestamp(value: Any) -> datetime:
    """A timestamp as the JSON protocol sends it (epoch seconds) or already parsed, in UTC."""
    instant = _instant(value)
    try:
        utc = instant.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00+01:00, which is in year 0 in UTC
        raise InvalidRecord(f"timestamp out of range: {str(value)[:40]!r}") from None
    # asyncpg sends the first and the last instant Python holds as -infinity and
    # infinity: stored, they would not be the time the API gave.
    if not _FIRST < utc < _LAST:
        raise InvalidRecord(f"timestamp out of range: {str(value)[:40]!r}")
    return utc


def _instant(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidRecord(f"timestamp of unexpected type {type(value).__name__}")
    if isinstance(value, str):
        try:
            return _instant(float(value))
        except ValueError:
            try:
                parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                raise InvalidRecord(f"unparseable timestamp {value[:40]!r}") from None
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    try:
        # Whole microseconds, computed in integers so that 1.123 stays .123000.
        return EPOCH + timedelta(microseconds=round(value * 1_000_000))
    except (OverflowError, ValueError):
        raise InvalidRecord(f"timestamp out of range: {value!r}") from None


def to_epoch(value: datetime) -> float:
    return (value - EPOCH) / timedelta(seconds=1)


def clean_text(value: str) -> str:
    """Text PostgreSQL can hold: NUL dropped, lone surrogates replaced by U+FFFD."""
    if "\x00" in value:
        value = value.replace("\x00", "")
    if not value.isascii():
        value = _SURROGATE.sub("\ufffd", value)
    return value


def _clean(value: Any) -> Any:
    """clean_text over every string of a decoded JSON value, keys included."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _text(item: dict[str, Any], key: str) -> str | None:
    value = item.get(key)
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _required_text(item: dict[str, Any], key: str) -> str:
    value = _text(item, key)
    if not value:
        raise InvalidRecord(f"missing {key}")
    return value


def _indexed_text(item: dict[str, Any], key: str, limit: int = MAX_INDEXED_BYTES) -> str | None:
    """A text field that goes into an index: refused when its entry would not fit."""
    value = _text(item, key)
    if value is not None and len(value) * 4 > limit and len(value.encode()) > limit:
        raise InvalidRecord(f"{key} longer than {limit} bytes")
    return value


def _arn(item: dict[str, Any], key: str) -> tuple[str, str, str]:
    """The ARN and its region and account fields."""
    arn = _required_text(item, key)
    _indexed_text(item, key, MAX_ARN_LENGTH)
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        raise InvalidRecord(f"{key} is not an ARN: {arn[:80]!r}")
    return arn, parts[3], parts[4]


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return to_epoch(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


# One encoder for every item: json.dumps with options builds a new one per call.
# Python's JSON reader accepts NaN and Infinity; JSON, and so jsonb, has neither.
_ENCODER = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_json_default
)
# How json escapes NUL, with or without ensure_ascii.
_ESCAPED_NUL = "\\u0000"


def _json(item: dict[str, Any]) -> str:
    try:
        return _ENCODER.encode(item)
    except ValueError:
        raise InvalidRecord("holds NaN or Infinity, which JSON cannot carry") from None


def _cleaned(item: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The item without NUL characters or lone surrogates, and its JSON text.

    Encoding first and cleaning only when the text shows an escaped NUL (or,
    in text that is not all ASCII, a surrogate) spares the recursive copy for
    the items (all but a few) that have none.
    """
    raw = _json(item)
    if _ESCAPED_NUL in raw or (not raw.isascii() and _SURROGATE.search(raw)):
        item = _clean(item)
        raw = _json(item)
    return item, raw


def parse_group(item: dict[str, Any]) -> PackageGroup:
    item, raw = _cleaned(item)
    bounded(raw, "summary")
    arn, _, _ = _arn(item, "ModelPackageGroupArn")
    _indexed_text(item, "ModelPackageGroupName")
    return PackageGroup(
        arn=arn,
        name=_required_text(item, "ModelPackageGroupName"),
        description=_text(item, "ModelPackageGroupDescription"),
        creation_time=parse_timestamp(_require(item, "CreationTime")),
        status=_text(item, "ModelPackageGroupStatus"),
        raw=raw,
    )


def parse_package(item: dict[str, Any], listed_group: str | None = None) -> PackageSummary:
    """A ListModelPackages summary; ``listed_group`` is the group it was listed under.

    The listing's group wins over a missing field, so that an odd summary still
    lands in the scope whose sweeps cover it.
    """
    item, raw = _cleaned(item)
    bounded(raw, "summary")
    arn, region, account_id = _arn(item, "ModelPackageArn")
    life_cycle = item.get("ModelLifeCycle")
    if not isinstance(life_cycle, dict):
        life_cycle = {}
    return PackageSummary(
        arn=arn,
        account_id=account_id,
        region=region,
        group_name=_indexed_text(item, "ModelPackageGroupName") or listed_group,
        version=_version(item.get("ModelPackageVersion")),
        name=_text(item, "ModelPackageName"),
        description=_text(item, "ModelPackageDescription"),
        creation_time=parse_timestamp(_require(item, "CreationTime")),
        package_status=_text(item, "ModelPackageStatus"),
        approval_status=_indexed_text(item, "ModelApprovalStatus"),
        life_cycle_stage=_indexed_text(life_cycle, "Stage"),
        life_cycle_stage_status=_text(life_cycle, "StageStatus"),
        life_cycle_stage_description=_text(life_cycle, "StageDescription"),
        registration_type=_text(item, "ModelPackageRegistrationType"),
        raw=raw,
    )


def in_scope(group_name: str | None, name_contains: str | None, include_unversioned: bool) -> bool:
    """Whether the mirror lists such a package (SYNCER_GROUP_NAME_CONTAINS,
    SYNCER_INCLUDE_UNVERSIONED): what Search, the account-wide listing and the
    events return beyond that is left out."""
    if group_name is None:
        return include_unversioned
    return group_in_scope(group_name, name_contains)


def group_in_scope(name: str | None, name_contains: str | None) -> bool:
    """Whether a group is one the mirror lists (SYNCER_GROUP_NAME_CONTAINS)."""
    return not name_contains or (name is not None and name_contains in name)


@dataclass(frozen=True, slots=True)
class PackageChange:
    """A package's mutable fields as Search reports them, and when it last changed.

    ``patch`` holds, as JSON text, the summary keys these fields come from, with
    the values as received: applying a change replaces just those keys of the
    stored summary, so ``raw`` keeps the ListModelPackages shape.
    """

    arn: str
    last_modified: datetime
    package_status: str | None
    approval_status: str | None
    life_cycle_stage: str | None
    life_cycle_stage_status: str | None
    life_cycle_stage_description: str | None
    patch: str
    # Who last modified the record and the approval note, as of this read
    # (governance details; the change history keeps them with an approval change).
    modified_by_arn: str | None = None
    modified_by_user_profile: str | None = None
    approval_description: str | None = None
    # True when LastModifiedTime came to the second only (EventBridge events give
    # ISO times without a fraction): the change happened within that second.
    whole_seconds: bool = False


# The summary keys a change may replace (the mutable fields of a ListModelPackages summary).
MUTABLE_SUMMARY_KEYS = ("ModelPackageStatus", "ModelApprovalStatus", "ModelLifeCycle")


def parse_package_change(record: dict[str, Any]) -> PackageChange:
    """One result of Search(Resource="ModelPackage"): ``{"ModelPackage": {...}}``."""
    item = record.get("ModelPackage")
    if not isinstance(item, dict):
        raise InvalidRecord("search result has no ModelPackage object")
    # Only the fields used are cleaned and encoded: the rest (inference
    # specification, metrics) can be large and is not stored.
    fields = _clean({k: item[k] for k in (*_CHANGE_KEYS, *MUTABLE_SUMMARY_KEYS) if k in item})
    bounded(_json(fields), "change")
    arn, _, _ = _arn(fields, "ModelPackageArn")
    life_cycle = fields.get("ModelLifeCycle")
    if not isinstance(life_cycle, dict):
        life_cycle = {}
    patch = {k: fields[k] for k in MUTABLE_SUMMARY_KEYS if fields.get(k) is not None}
    modified_by = user_context(fields.get("LastModifiedBy"))
    modified = _require(item, "LastModifiedTime")
    return PackageChange(
        arn=arn,
        last_modified=parse_timestamp(modified),
        package_status=_text(fields, "ModelPackageStatus"),
        # Validated as a listing's are: the same row must not be refused one way
        # and written the other.
        approval_status=_indexed_text(fields, "ModelApprovalStatus"),
        life_cycle_stage=_indexed_text(life_cycle, "Stage"),
        life_cycle_stage_status=_text(life_cycle, "StageStatus"),
        life_cycle_stage_description=_text(life_cycle, "StageDescription"),
        patch=_json(patch),
        modified_by_arn=modified_by[0],
        modified_by_user_profile=modified_by[1],
        approval_description=_text(fields, "ApprovalDescription"),
        whole_seconds=whole_seconds(modified),
    )


_CHANGE_KEYS = ("ModelPackageArn", "LastModifiedBy", "ApprovalDescription")


def whole_seconds(value: Any) -> bool:
    """Whether a timestamp as received is given to the second only (no fraction)."""
    if isinstance(value, datetime | float):
        return False
    return isinstance(value, int | str) and not _FRACTION.search(str(value))


_FRACTION = re.compile(r"[.,]\d")
ONE_SECOND = timedelta(seconds=1)


class Order(Enum):
    """Where one LastModifiedTime falls against another."""

    BEFORE = "before"
    SAME = "same"  # the same instant, both known to the millisecond or better
    OVERLAP = "overlap"  # at least one is a whole second that contains the other
    AFTER = "after"


def modified_order(
    incoming: datetime, incoming_whole: bool, stored: datetime, stored_whole: bool
) -> Order:
    """Where ``incoming`` falls against ``stored``. A time given to the second stands
    for the whole second after it, [t, t + 1 s); a precise one for its instant."""

    def span(at: datetime, whole: bool) -> tuple[datetime, datetime]:
        return (at, at + ONE_SECOND) if whole else (at, at + timedelta(microseconds=1))

    low, high = span(incoming, incoming_whole)
    stored_low, stored_high = span(stored, stored_whole)
    if low >= stored_high:
        return Order.AFTER
    if high <= stored_low:
        return Order.BEFORE
    if not (incoming_whole or stored_whole):
        return Order.SAME
    return Order.OVERLAP


def user_context(value: Any) -> tuple[str | None, str | None]:
    """A UserContext's IAM ARN and Studio user profile name (either may be missing)."""
    if not isinstance(value, dict):
        return None, None
    identity = value.get("IamIdentity")
    arn = _text(identity, "Arn") if isinstance(identity, dict) else None
    return arn, _text(value, "UserProfileName")


def _require(item: dict[str, Any], key: str) -> Any:
    value = item.get(key)
    if value is None:
        raise InvalidRecord(f"missing {key}")
    return value


def _version(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**31:
        raise InvalidRecord(f"ModelPackageVersion out of range: {value!r}")
    return value
