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
from urllib.parse import unquote, unquote_plus

import structlog

from syncer.errors import describe

# Query parameters that carry a secret, as asyncpg reads them (keys percent-decoded).
SECRET_KEYS = frozenset({"password", "sslpassword"})
# Where a DSN may sit inside other text (a driver's message): its scheme, in any
# case, up to the next whitespace or quote.
_DSN_IN_TEXT = re.compile(r"postgres(?:ql)?://[^\s'\"<>]*", re.IGNORECASE)
# A query parameter outside a recognisable DSN (a fragment quoted by a library).
_QUERY_PARAM = re.compile(r"([?&;])([^=&#\s'\"]+)=([^&#\s'\"]*)")
# AWS's signature errors quote the canonical request, session token included.
_AWS_TOKEN = re.compile(r"(x-amz-security-token[:=]\s*)[^\s'\"&]+", re.IGNORECASE)
# Secrets of the configured DSN, replaced wherever they appear. Shorter ones are
# left to the parsing above: replacing every "ab" would garble the logs.
_MIN_KNOWN_SECRET = 4
_known_secrets: set[str] = set()


def redact_dsn(dsn: str) -> str:
    """The DSN with every secret replaced by ``***``, by parsing it as asyncpg does:
    the password of its user information, and the value of each query parameter
    whose percent-decoded key, in any case, is a password."""
    scheme, sep, rest = dsn.partition("://")
    if not sep:
        return mask_secrets(dsn) if "=" in dsn else dsn
    end = len(rest)
    for stop in "/?#":
        found = rest.find(stop)
        if found != -1:
            end = min(end, found)
    netloc, tail = rest[:end], rest[end:]
    # asyncpg splits the user information at the first "@", urllib at the last:
    # mask from the first ":" to the last "@", which covers either reading.
    if "@" in netloc:
        auth, _, host = netloc.rpartition("@")
        user, colon, password = auth.partition(":")
        if colon and password:
            netloc = f"{user}:***@{host}"
    path, qmark, query = tail.partition("?")
    if qmark:
        query, hash_, fragment = query.partition("#")
        query = "&".join(_mask_parameter(part) for part in query.split("&"))
        tail = f"{path}?{query}{hash_}{fragment}"
    return f"{scheme}://{netloc}{tail}"


def _mask_parameter(part: str) -> str:
    key, equals, value = part.partition("=")
    if equals and value and unquote_plus(key).strip().lower() in SECRET_KEYS:
        return f"{key}=***"
    return part


def dsn_secrets(dsn: str) -> set[str]:
    """The secrets a DSN carries, as written and percent-decoded."""
    found: set[str] = set()
    _, sep, rest = dsn.partition("://")
    if not sep:
        return found
    netloc = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if "@" in netloc:
        auth = netloc.rpartition("@")[0]
        password = auth.partition(":")[2]
        found |= {password, unquote(password), *(p for p in password.split("@"))}
    query = rest.partition("?")[2].partition("#")[0]
    for part in query.split("&"):
        key, _, value = part.partition("=")
        if unquote_plus(key).strip().lower() in SECRET_KEYS:
            found |= {value, unquote_plus(value)}
    return {secret for secret in found if secret}


def remember_secrets(dsn: str) -> None:
    """Mask this DSN's secrets in everything the process prints from now on,
    whatever text they turn up in (a driver's error message, say)."""
    remember_secret(*dsn_secrets(dsn))


def remember_secret(*values: str | None) -> None:
    """Mask these values (AWS credentials, say) wherever they turn up in what the
    process prints or stores from now on: an endpoint may echo them in any form."""
    _known_secrets.update(v for v in values if v and len(v) >= _MIN_KNOWN_SECRET)


def mask_secrets(text: str) -> str:
    """``text`` with the secrets of any DSN in it, and of the configured one, masked."""
    for secret in sorted(_known_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, "***")
    text = _AWS_TOKEN.sub(r"\1***", text)
    text = _DSN_IN_TEXT.sub(lambda m: redact_dsn(m[0]), text)
    return _QUERY_PARAM.sub(
        lambda m: (
            f"{m[1]}{m[2]}=***"
            if m[3] and unquote_plus(m[2]).strip().lower() in SECRET_KEYS
            else m[0]
        ),
        text,
    )


# Characters that act on a terminal instead of showing: C0 and C1 controls
# (ESC starts ANSI sequences), DEL, the Unicode line and paragraph separators,
# and the bidirectional overrides that reorder what is shown.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_UNPRINTABLE_BUT_NEWLINE = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)


def _escape(match: re.Match[str]) -> str:
    return match[0].encode("unicode_escape").decode("ascii")


def printable(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` safe to write to a terminal: control characters as escapes (``\\x1b``,
    ``\\n``), so that a string from SageMaker can neither recolour, clear or retitle
    the terminal nor forge a line of output."""
    pattern = _UNPRINTABLE_BUT_NEWLINE if keep_newlines else _UNPRINTABLE
    return pattern.sub(_escape, text)


# What an error leaves in the tables that sagemaker_reader may select
# (sync_state.last_error, sync_runs.errors, details_state.last_error,
# feature_availability.reason) and what `status` and `check` print: the first
# line, which carries the error code, with secrets masked, the principal's role
# and session names taken out, control characters escaped, and bounded. AWS
# messages go on to echo more (a signature error quotes the canonical request,
# headers and session token included); the service's own log keeps the whole
# message, masked.
STORED_ERROR_CHARS = 300
_PRINCIPAL_ARN = re.compile(r"\b(arn:aws[a-z-]*:(?:iam|sts)::\d*:)[^\s,;'\"()]+")


def stored_error(message: str, limit: int = STORED_ERROR_CHARS) -> str:
    """The one form of an error message that is stored for readers or printed (see above)."""
    lines = mask_secrets(message).strip().splitlines()
    first = lines[0].strip() if lines else ""
    first = printable(_PRINCIPAL_ARN.sub(r"\1***", first))
    if len(first) > limit:
        first = first[: limit - 3] + "..."
    return first


def _printable_event(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Console output only (JSON escapes these itself). A traceback keeps its lines."""
    for key, value in event.items():
        if isinstance(value, str):
            event[key] = printable(value, keep_newlines=key == "exception")
    return event


def _mask_event(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in event.items():
        if isinstance(value, str):
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
    escape: list[structlog.typing.Processor] = [_printable_event] if use_console else []
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
            *escape,
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
            processors=[_library_event, _mask_event, *escape, renderer],
        )
    )
    root.addHandler(_library_handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("botocore").setLevel(max(logging.getLevelName(level), logging.WARNING))


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)  # type: ignore[no-any-return]
