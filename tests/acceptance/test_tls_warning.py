"""The TLS warning of syncer.warehouse.tls reaches the log once, at start-up (tests/unit/test_tls.py
has which connections it covers)."""

from __future__ import annotations

import json

from standin.environment import service_env
from tests.acceptance.cli import syncer


def test_the_warning_is_one_log_line_at_start_up() -> None:
    """Logged before the database is reached (here it cannot be), and not for a
    verified or a local connection."""
    remote = "postgresql://svc@db.invalid:5432/registry"
    for dsn, expected in (
        (remote, 1),
        (f"{remote}?sslmode=verify-full&sslrootcert=/nonexistent.pem", 0),
        ("postgresql://svc@127.0.0.1:1/registry", 0),
    ):
        done = syncer("once", env=service_env(dsn, "http://127.0.0.1:9"))
        assert done.returncode == 2, done.stderr
        events = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
        warnings = [e for e in events if e.get("event") == "database.tls_unverified"]
        assert len(warnings) == expected, done.stderr
        if expected:
            assert warnings[0]["host"] == "db.invalid" and "verify-full" in warnings[0]["hint"]
