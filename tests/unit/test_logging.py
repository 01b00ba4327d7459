"""What the service writes to its log: JSON lines, libraries' records included."""

from __future__ import annotations

import io
import json
import logging

import structlog

from syncer.logging import configure_logging, get_logger, printable

DSN = "postgresql://sync:hunter2@db.internal:5432/registry"


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_library_record_with_a_traceback_is_one_json_line_with_a_one_line_error() -> None:
    """asyncpg's pool logs a traceback on every failed reconnect while the database is
    down; a log pipeline expecting JSON lines must get one, and no password."""
    out = io.StringIO()
    configure_logging("INFO", "json", stream=out)
    try:
        raise ConnectionRefusedError(111, f"Connect call failed for {DSN}")
    except ConnectionRefusedError:
        logging.getLogger("asyncpg.pool").warning(
            "Failed to restore the pool connection floor; retrying", exc_info=True
        )
    logging.getLogger("asyncpg.pool").info("not shown: libraries log warnings and worse")

    [line] = _lines(out)
    assert line["logger"] == "asyncpg.pool"
    assert line["level"] == "warning"
    assert line["event"] == "Failed to restore the pool connection floor; retrying"
    assert line["error"] == (
        "ConnectionRefusedError: [Errno 111] Connect call failed for"
        " postgresql://sync:***@db.internal:5432/registry"
    )
    assert "timestamp" in line
    assert "hunter2" not in out.getvalue() and "Traceback" not in out.getvalue()


def test_the_service_events_and_library_records_share_one_stream() -> None:
    out = io.StringIO()
    structlog.reset_defaults()
    configure_logging("INFO", "json", stream=out)
    configure_logging("INFO", "json", stream=out)  # again: still one line per record
    get_logger("syncer.test").info("cycle.started", run_id=1)
    logging.getLogger("botocore.credentials").warning("Refreshing temporary credentials failed")

    assert [(line["event"], line["level"]) for line in _lines(out)] == [
        ("cycle.started", "info"),
        ("Refreshing temporary credentials failed", "warning"),
    ]


def test_console_lines_escape_control_characters_but_json_needs_nothing() -> None:
    evil = "g\x1b[2J\x07\u202e"
    out = io.StringIO()
    configure_logging("INFO", "console", stream=out)
    get_logger("t").warning("sync.scope_failed", scope=evil, error=f"x\n{evil}")
    line = out.getvalue()
    assert line.count("\n") == 1 and "\x1b" not in line and "\u202e" not in line, line
    assert "g\\x1b[2J\\x07\\u202e" in line
    assert printable("tab\there", keep_newlines=True) == "tab\\there"
    assert printable("a\nb", keep_newlines=True) == "a\nb"
    assert printable("ü é 中 ok") == "ü é 中 ok"
