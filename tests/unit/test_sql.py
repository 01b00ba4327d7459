from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from syncer.cycle.listing import listing_lower_bound
from syncer.warehouse.sql import QUERIES, parse_queries


def test_queries_file_parses_into_named_sections() -> None:
    assert {"store_listing_page", "sweep_packages", "advance_watermark", "scope_failed"} <= set(
        QUERIES
    )
    for name, sql in QUERIES.items():
        assert sql.rstrip().endswith(";"), name
        # Values are bind parameters; nothing is interpolated by Python.
        assert "{" not in re.sub(r"'[^']*'", "", sql), name


def test_parser_rejects_duplicates_and_empty_sections() -> None:
    with pytest.raises(ValueError, match="twice"):
        parse_queries("-- name: a\nSELECT 1;\n-- name: a\nSELECT 2;\n")
    with pytest.raises(ValueError, match="empty"):
        parse_queries("-- name: a\n\n-- name: b\nSELECT 1;\n")


def test_incremental_lower_bound_rereads_the_watermark_millisecond() -> None:
    watermark = datetime(2026, 1, 1, 12, 0, 0, 123000, tzinfo=UTC)
    assert listing_lower_bound(None, timedelta(seconds=300)) is None
    assert listing_lower_bound(watermark, timedelta(0)) == watermark - timedelta(milliseconds=1)
    assert listing_lower_bound(watermark, timedelta(seconds=300)) == watermark - timedelta(
        seconds=300, milliseconds=1
    )
