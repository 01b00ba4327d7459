"""A non-local database without a verified certificate is warned about, once, at start-up."""

from __future__ import annotations

import pytest

from syncer.warehouse.tls import dsn_hosts, unverified_tls


@pytest.mark.parametrize(
    ("dsn", "environ", "warned"),
    [
        ("postgresql://u@db.example.com:5432/r", {}, "prefer (the default)"),
        ("postgresql://u@db.example.com/r?sslmode=require", {}, "require"),
        ("postgresql://u@db.example.com/r?sslmode=prefer", {"PGSSLMODE": "verify-full"}, "prefer"),
        ("postgresql://u@10.0.0.5/r", {"PGSSLMODE": "allow"}, "allow"),
        ("postgresql://u@db.example.com/r", {"PGSSLMODE": "verify-ca"}, None),
        ("postgresql://u@db.example.com/r?sslmode=verify-full&sslrootcert=/ca.pem", {}, None),
        ("postgresql://u@db.example.com/r?sslmode=verify-ca", {}, None),
        ("postgresql://u@localhost/r", {}, None),
        ("postgresql://u@127.0.0.1:5432/r", {}, None),
        ("postgresql://u@[::1]:5432/r", {}, None),
        ("postgresql://u@/r?host=/var/run/postgresql", {}, None),
        ("postgresql:///r", {}, None),
        ("postgresql:///r", {"PGHOST": "db.example.com"}, "prefer (the default)"),
        ("postgresql://u@/r?host=db.example.com", {}, "prefer (the default)"),
        ("postgresql://u@localhost:5432,db2.example.com:5432/r", {}, "prefer (the default)"),
        ("postgresql://u:p%40ss@[2001:db8::1]:5432/r", {}, "prefer (the default)"),
    ],
)
def test_which_connections_are_warned_about(
    dsn: str, environ: dict[str, str], warned: str | None
) -> None:
    found = unverified_tls(dsn, environ)
    assert (found and found["sslmode"]) == warned, found


def test_hosts_as_asyncpg_reads_them() -> None:
    assert dsn_hosts("postgresql://u:p@h1:5432,h2,[::1]:5/r", {}) == ["h1", "h2", "::1"]
