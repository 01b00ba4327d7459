"""structlog setup: JSON lines off a TTY, coloured console on one.

Events are dotted names (``sync.scope_done``) with context bound as key/values.
Any value that looks like a DSN has its password masked on the way out, so a
driver error that quotes the connection string cannot leak it.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, Literal

import structlog

from syncer.errors import describe

_DSN_PASSWORD = re.compile(r"(postgres(?:ql)?://[^:/@\s]*:)([^@\s]*)(@)")
# A DSN may also carry the password (or a key's passphrase) as a query parameter.
_QUERY_PASSWORD = re.compile(r"([?&](?:ssl)?password=)[^&#\s]*", re.IGNORECASE)


def mask_secrets(text: str) -> str:
    return _QUERY_PASSWORD.sub(r"\1***", _DSN_PASSWORD.sub(r"\1***\3", text))


def _mask_event(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in event.items():
        if isinstance(value, str) and "://" in value:
            event[key] = mask_secrets(value)
    return event


# The handler that renders libraries' records; replaced when logging is configured again.
_library_handler: logging.Handler | None = None


def _library_event(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """A library's log record as the service's own events are: which library, and its
    exception as one ``error`` line rather than a traceback.

    asyncpg's pool, for one, logs a full traceback each time it fails to
    reconnect while the database is down; the cycle's own events already say
    what failed, once per cycle.
    """
    event.pop("_from_structlog", None)
    record = event.pop("_record", None)
    if record is not None:
        event["logger"] = record.name
    exc_info = event.pop("exc_info", None)
    if isinstance(exc_info, tuple) and exc_info[1] is not None:
        event["error"] = describe(exc_info[1])
    return event


def configure_logging(
    level: str = "INFO",
    fmt: Literal["auto", "json", "console"] = "auto",
    stream: Any = None,
) -> None:
    out = stream or sys.stderr
    use_console = fmt == "console" or (fmt == "auto" and out.isatty())
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=out.isatty())
        if use_console
        else structlog.processors.JSONRenderer()
    )
    stamp: list[structlog.typing.Processor] = [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            *stamp,
            structlog.processors.format_exc_info,
            _mask_event,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    # botocore and asyncpg log through stdlib logging: rendered like everything
    # else (a JSON line, secrets masked), and quiet unless something is wrong.
    global _library_handler
    root = logging.getLogger()
    if _library_handler is not None:  # configured before (tests do, per session)
        root.removeHandler(_library_handler)
    _library_handler = logging.StreamHandler(out)
    _library_handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=stamp,
            processors=[_library_event, _mask_event, renderer],
        )
    )
    root.addHandler(_library_handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("botocore").setLevel(max(logging.getLevelName(level), logging.WARNING))


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)  # type: ignore[no-any-return]
