"""Bad data from the API is stored faithfully or skipped with a logged reason.

Summaries carry unknown enum values, missing optional fields, NUL bytes and
lone surrogates (PostgreSQL text holds neither), very long strings, odd
Unicode, SQL-looking text and timestamps from year 1 to year 9999 and beyond.
Two properties, both checked against the rows in PostgreSQL:

- end to end (stand-in -> botocore -> sync -> Postgres): every odd summary is
  either a row equal to what was sent (NUL dropped, surrogates replaced) or
  absent with a ``source.items_skipped`` line (one per page) naming it and why; no scope of
  either cycle fails (change feed included), and a package created afterwards is still found
  by the next incremental cycle (no watermark poisoned by a date);
- parse and store directly, with wrong JSON types too and many more examples:
  a page either stores every parsed record exactly or parsing refused the item.

Hypothesis runs derandomized (a fixed seed), so a failure reproduces.
"""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from standin.sagemaker import ACCOUNT, REGION, Registry, StandIn, serve_in_thread
from syncer.cycle.runs import Runs
from syncer.models import (
    MAX_ARN_LENGTH,
    MAX_INDEXED_BYTES,
    MAX_RECORD_BYTES,
    InvalidRecord,
    PackageSummary,
    Scope,
    Target,
    clean_text,
    parse_package,
)
from syncer.warehouse.store import Store
from tests.conftest import sync_once

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
YEAR_1 = -62_135_596_800  # 0001-01-01T00:00:00Z, the first instant Python can hold
YEAR_10000 = 253_402_300_800  # one past the last
DAY = 86_400
FUZZ_SETTINGS = {
    "deadline": None,
    "derandomize": True,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}
END_TO_END_EXAMPLES = 20
DIRECT_EXAMPLES = 120

KNOWN_APPROVALS = ("Approved", "Rejected", "PendingManualApproval")
KNOWN_STATUSES = ("Pending", "InProgress", "Completed", "Failed", "Deleting")


class Long(str):
    """A long string that reports itself briefly (Hypothesis prints failing examples)."""

    def __repr__(self) -> str:
        return f"<{len(self)} characters starting {str.__repr__(self[:8])}>"


LONG_ASCII = Long("x" * 1_000_000)  # compresses well: a 1 MB description fits anywhere
# Incompressible, 3 bytes a character: 100 kB of CJK text.
LONG_CJK = Long("".join(chr(0x4E00 + (i * 7919) % 20_000) for i in range(100_000)))
SPECIAL_TEXT = (
    "",
    "\x00",
    "a\x00b\x00",
    "\ud800",
    "x\udfffy\ud83d",
    "'; DROP TABLE sagemaker.model_packages; --",
    "$1 $$ \\x00 %s {0}",
    "\u202eevil\u202c",  # right-to-left override
    "e\u0301 \ufeff \u200b \U0010ffff \ufffe",
    "😀" * 64,  # 256 bytes: exactly the limit of an indexed field
    "😀" * 65,  # 260 bytes: past it
    "ā" * 129,  # 258 bytes in 129 characters
    LONG_ASCII,
    LONG_CJK,
)


def odd_text(max_size: int = 20) -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(max_size=max_size),  # any plane, combining marks, controls
        st.text(
            st.characters(codec=None, categories=["Cs"]) | st.sampled_from("\x00a"), max_size=4
        ),
        st.sampled_from(SPECIAL_TEXT),
    )


def millis(low: int, high: int) -> st.SearchStrategy[float]:
    """Epoch seconds with millisecond precision, as the API sends them."""
    return st.integers(low * 1000, high * 1000).map(lambda ms: ms / 1000)


creation_times = st.one_of(
    st.none(),  # missing: the one field without which a summary cannot be mirrored
    millis(1_600_000_000, 1_800_000_000),
    millis(YEAR_1, -2_208_988_800),  # year 1 to 1900
    millis(4_102_444_800, YEAR_10000 - DAY),  # 2100 to the last day of 9999
    st.sampled_from([YEAR_1 - DAY, YEAR_10000 + DAY, 1e300, -1e300, math.inf, math.nan]),
)
optional_text = st.none() | odd_text()
life_cycles = st.none() | st.fixed_dictionaries(
    {},
    optional={"Stage": odd_text(), "StageStatus": odd_text(), "StageDescription": odd_text()},
)
# Overrides of a summary's fields; None leaves the field out.
odd_fields = st.fixed_dictionaries(
    {
        "ModelPackageDescription": optional_text,
        "ModelApprovalStatus": st.none() | st.sampled_from(KNOWN_APPROVALS) | odd_text(),
        "ModelPackageStatus": st.none() | st.sampled_from(KNOWN_STATUSES) | odd_text(),
        "CreationTime": creation_times,
        "ModelLifeCycle": life_cycles,
        "ModelPackageRegistrationType": optional_text,
    },
    optional={"ArnSuffix": odd_text()},
)


# ---------------------------------------------------------------- the oracle
def cleaned(value: Any) -> Any:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {cleaned(k): cleaned(v) for k, v in value.items()}  # nulls kept, as sent
    return value


def fits(value: str | None, limit: int = MAX_INDEXED_BYTES) -> bool:
    return value is None or len(value.encode()) <= limit


def expected_row(summary: dict[str, Any]) -> dict[str, Any] | None:
    """The row a summary (as sent) must become, or None when it must be skipped."""
    s = cleaned(summary)
    created = s.get("CreationTime")
    # The first and last instant Python holds are refused too: asyncpg would
    # store them as -infinity and infinity.
    if not isinstance(created, float | int) or not YEAR_1 < created < YEAR_10000:
        return None
    life = s.get("ModelLifeCycle") or {}
    arn = s["ModelPackageArn"]
    if not (fits(arn, MAX_ARN_LENGTH) and fits(s.get("ModelApprovalStatus"))):
        return None
    if not (fits(s.get("ModelPackageGroupName")) and fits(life.get("Stage"))):
        return None
    if not fits(json.dumps(s, ensure_ascii=False, separators=(",", ":")), MAX_RECORD_BYTES):
        return None  # a record larger than a mirror keeps
    return {
        "model_package_arn": arn,
        "account_id": ACCOUNT,
        "region": REGION,
        "model_package_group_name": s.get("ModelPackageGroupName"),
        "model_package_version": s.get("ModelPackageVersion"),
        "model_package_description": s.get("ModelPackageDescription"),
        "creation_time": EPOCH + timedelta(milliseconds=round(created * 1000)),
        "model_package_status": s.get("ModelPackageStatus"),
        "model_approval_status": s.get("ModelApprovalStatus"),
        "model_life_cycle_stage": life.get("Stage"),
        "model_life_cycle_stage_status": life.get("StageStatus"),
        "model_life_cycle_stage_description": life.get("StageDescription"),
        "model_package_registration_type": s.get("ModelPackageRegistrationType"),
        "raw": s,
    }


async def stored_rows(conn: asyncpg.Connection, arns: list[str]) -> dict[str, dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT * FROM sagemaker.model_packages WHERE model_package_arn = ANY($1::text[])", arns
    )
    return {r["model_package_arn"]: dict(r) for r in rows}


def as_json_numbers(value: Any) -> Any:
    """Numbers as JSON text means them: jsonb keeps 4.2e+16 as 42000000000000000."""
    return json.loads(json.dumps(value), parse_float=Decimal, parse_int=Decimal)


def assert_row(got: dict[str, Any], expected: dict[str, Any]) -> None:
    for column, value in expected.items():
        actual = got[column]
        if column == "raw":
            assert as_json_numbers(json.loads(actual)) == as_json_numbers(value), column
        elif column == "creation_time":
            # Epoch floats of far years carry a few microseconds of binary error.
            assert abs(actual - value) < timedelta(milliseconds=1), (actual, value)
        else:
            assert actual == value, (column, actual, value)


# ---------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def standin() -> Iterator[tuple[StandIn, str]]:
    server = StandIn(Registry())
    with serve_in_thread(server) as endpoint:
        yield server, endpoint


examples = iter(range(10**6))


# Without shrinking: an example is two cycles, and at most four summaries anyway.
@settings(
    max_examples=END_TO_END_EXAMPLES,
    phases=(Phase.explicit, Phase.generate),
    **FUZZ_SETTINGS,  # type: ignore[arg-type]
)
@given(odd=st.lists(odd_fields, min_size=1, max_size=4))
async def test_odd_summaries_are_stored_faithfully_or_skipped_with_a_reason(
    database_url: str,
    db: asyncpg.Connection,
    standin: tuple[StandIn, str],
    odd: list[dict[str, Any]],
) -> None:
    server, endpoint = standin
    registry = server.registry = Registry()  # the previous example's group is gone
    group = f"fuzz-{next(examples)}"
    registry.create_group(group)
    normal = [registry.create_package(group, approval="Approved")]
    sent = []
    for i, fields in enumerate(odd):
        extra = dict(fields)
        suffix = extra.pop("ArnSuffix", None)
        arn = registry.create_package(group, extra=extra)
        if suffix is not None:
            # A new key for the summary only; the registry still lists it by its own.
            registry.packages[arn].extra["ModelPackageArn"] = f"{arn}-{i}{suffix}"
        # What the wire carries: the stand-in's JSON, as any JSON reader decodes it
        # (an escaped surrogate pair becomes one character); null members too.
        sent.append(json.loads(json.dumps(registry.packages[arn].summary())))

    with capture_logs() as logs:
        first = await sync_once(database_url, endpoint, lookback_seconds=0)
        # Whatever dates came before, a package created now is found incrementally.
        normal.append(registry.create_package(group))
        second = await sync_once(database_url, endpoint, lookback_seconds=0)

    for result in (first, second):
        assert not result.errors, result.errors
    # One warning line per page: the count, and (up to 5) the skipped ARNs with their reasons.
    page_lines = [e for e in logs if e["event"] == "source.items_skipped"]
    skipped = {arn: reason for e in page_lines for arn, reason in e["examples"]}
    assert all(e["count"] == len(e["examples"]) and e["sample_arn"] in skipped for e in page_lines)
    expected = {s["ModelPackageArn"]: expected_row(s) for s in sent}
    rows = await stored_rows(db, [*normal, *(clean_text(a) for a in expected)])
    assert set(normal) <= set(rows), "a well-formed package was lost"
    for arn, row in expected.items():
        if row is None:
            assert clean_text(arn) not in rows, arn[:80]
            assert skipped.get(arn[:200]), f"{arn[:80]!r} skipped without a logged reason"
        else:
            assert_row(rows[clean_text(arn)], row)
    # Every skip is counted in the run (the change feed reads and may skip them too).
    assert await db.fetchval(
        "SELECT items_skipped FROM sagemaker.sync_runs WHERE run_id = $1", first.run_id
    ) >= sum(row is None for row in expected.values())
    # The watermark never runs ahead of the present, whatever a summary claims.
    watermark = await db.fetchval(
        "SELECT watermark FROM sagemaker.sync_state WHERE model_package_group_name = $1", group
    )
    assert watermark <= datetime.now(UTC)


# ---------------------------------------------------------------- parse and store
# ISO text is a timestamp too; these are within Python's years, or just outside in UTC.
ISO_EDGES = (
    "2025-11-26T21:40:38.123Z",
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59.999999Z",
    "9999-12-31T23:59:59-01:00",
)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.sampled_from([math.nan, math.inf, -math.inf])  # Python's JSON reader lets them in
    | odd_text()
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(odd_text(), inner, max_size=3),
    max_leaves=6,
)
raw_summaries = st.fixed_dictionaries(
    {
        "ModelPackageArn": odd_text().map(
            lambda suffix: f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/g/{suffix}"
        ),
        "CreationTime": creation_times | json_values | st.sampled_from(ISO_EDGES),
    },
    optional={
        "ModelPackageGroupName": st.just("g") | odd_text(),
        "ModelPackageVersion": st.integers(-5, 2**40) | json_values,
        "ModelPackageName": json_values,
        "ModelPackageDescription": json_values,
        "ModelPackageStatus": json_values,
        "ModelApprovalStatus": json_values,
        "ModelLifeCycle": life_cycles | json_values,
        "ModelPackageRegistrationType": json_values,
        "Unknown\x00Field": json_values,
    },
)


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    async with Store.open(database_url, max_size=2) as s:
        yield s


def record_row(p: PackageSummary) -> dict[str, Any]:
    return {
        "model_package_arn": p.arn,
        "account_id": p.account_id,
        "region": p.region,
        "model_package_group_name": p.group_name,
        "model_package_version": p.version,
        "model_package_name": p.name,
        "model_package_description": p.description,
        "creation_time": p.creation_time,
        "model_package_status": p.package_status,
        "model_approval_status": p.approval_status,
        "model_life_cycle_stage": p.life_cycle_stage,
        "model_life_cycle_stage_status": p.life_cycle_stage_status,
        "model_life_cycle_stage_description": p.life_cycle_stage_description,
        "model_package_registration_type": p.registration_type,
        "raw": json.loads(p.raw),
    }


@settings(max_examples=DIRECT_EXAMPLES, **FUZZ_SETTINGS)  # type: ignore[arg-type]
@given(page=st.lists(raw_summaries, min_size=1, max_size=6))
async def test_every_parsed_record_stores_exactly_or_parsing_says_why(
    store: Store, db: asyncpg.Connection, page: list[dict[str, Any]]
) -> None:
    records: dict[str, PackageSummary] = {}
    refusals: list[str] = []
    for item in page:
        try:
            record = parse_package(item, "g")
        except InvalidRecord as exc:
            refusals.append(str(exc))
            continue
        records[record.arn] = record  # a page may repeat an ARN: the last one wins
        if isinstance(item.get("ModelPackageDescription"), str):
            assert record.description == clean_text(item["ModelPackageDescription"])
    scope = Scope(Target(ACCOUNT, REGION), "g")
    run_id = await Runs(store).start("full")
    await store.store_page(scope, list(records.values()), run_id)

    assert all(refusals), "a refusal without a reason"
    rows = await stored_rows(db, list(records))
    assert set(rows) == set(records)
    for arn, record in records.items():
        assert_row(rows[arn], record_row(record))


# ---------------------------------------------------------------- regressions, by name
async def test_a_scope_of_year_one_packages_syncs_incrementally(
    database_url: str, db: asyncpg.Connection
) -> None:
    """Its watermark minus the lookback is before year 1, which no datetime holds."""
    registry = Registry()
    registry.create_group("ancient")
    registry.create_package("ancient", extra={"CreationTime": YEAR_1 + 1.0})
    with serve_in_thread(StandIn(registry)) as endpoint:
        assert (await sync_once(database_url, endpoint)).status == "succeeded"
        later = registry.create_package("ancient")
        second = await sync_once(database_url, endpoint)
    assert second.status == "succeeded", second.errors
    rows = await db.fetch(
        "SELECT model_package_arn, creation_time FROM sagemaker.model_packages ORDER BY 2"
    )
    assert rows[0]["creation_time"] == datetime(1, 1, 1, 0, 0, 1, tzinfo=UTC)
    assert rows[1]["model_package_arn"] == later


async def test_a_package_dated_in_the_far_future_hides_no_later_package(
    database_url: str, db: asyncpg.Connection
) -> None:
    registry = Registry()
    registry.create_group("g")
    registry.create_package("g", extra={"CreationTime": float(YEAR_10000 - 1)})
    with serve_in_thread(StandIn(registry)) as endpoint:
        await sync_once(database_url, endpoint, lookback_seconds=0)
        later = registry.create_package("g")
        assert (await sync_once(database_url, endpoint, lookback_seconds=0)).status == "succeeded"
    assert await db.fetchval(
        "SELECT count(*) FROM sagemaker.model_packages WHERE model_package_arn = $1", later
    )
    assert await db.fetchval(
        "SELECT watermark <= now() FROM sagemaker.sync_state WHERE scope_kind = 'group'"
    )


@pytest.mark.parametrize(
    ("name", "stored"),
    [("模型-推荐-ранжирование", True), ("g" * 300, False), ("é" * 129, False)],
)
async def test_group_names_are_stored_or_skipped_with_a_reason(
    database_url: str, db: asyncpg.Connection, name: str, stored: bool
) -> None:
    registry = Registry()
    registry.create_group("plain")
    registry.create_package("plain")
    registry.create_group(name)
    arn = registry.create_package(name)
    with serve_in_thread(StandIn(registry)) as endpoint, capture_logs() as logs:
        result = await sync_once(database_url, endpoint)
    assert not result.errors, result.errors
    groups = {
        r[0]
        for r in await db.fetch(
            "SELECT model_package_group_name FROM sagemaker.model_package_groups"
        )
    }
    packages = {
        r[0] for r in await db.fetch("SELECT model_package_arn FROM sagemaker.model_packages")
    }
    assert "plain" in groups and len(packages - {arn}) == 1
    assert (name in groups and arn in packages) is stored
    if not stored:
        # The group's listing skips the group; the account's listing, its package.
        reasons = {e["reason"] for e in logs if e["event"] == "source.items_skipped"}
        assert reasons == {f"ModelPackageGroupName longer than {MAX_INDEXED_BYTES} bytes"}
