"""One root exception; each boundary translates its driver's errors into a subclass.

The CLI maps these to one line and an exit code; the original error stays
reachable through ``__cause__`` for logs at DEBUG.
"""


class SyncerError(Exception):
    """Root of every error this service raises on purpose."""

    exit_code = 1


class ConfigError(SyncerError):
    """The environment does not describe a runnable service."""

    exit_code = 2


class DatabaseError(SyncerError):
    """PostgreSQL is unreachable, refused us, or a statement failed."""

    exit_code = 2


class MigrationError(DatabaseError):
    """The schema cannot be brought to the version this code expects."""


class SourceError(SyncerError):
    """SageMaker (or its stand-in) failed after retries, or answered nonsense."""

    exit_code = 2

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code  # the API's error code, when the API answered with one


class ListingError(SourceError):
    """A paginated listing could not be completed (e.g. a repeating NextToken)."""

    exit_code = 1


def describe(exc: BaseException) -> str:
    """One line for an exception from a driver or the network: its type and first line."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def error_message(exc: BaseException) -> str:
    """What to log or record of any error: ours as raised, a driver's as ``describe``."""
    return str(exc) if isinstance(exc, SyncerError) else describe(exc)
