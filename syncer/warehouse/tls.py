"""Whether the connection to PostgreSQL is TLS with a verified certificate.

Without ``sslmode`` in the DSN (or PGSSLMODE), asyncpg uses ``prefer``: TLS if
the server offers it, no check of its certificate, and plain text if it does
not, silently. Across a network that lets anyone in the path read the
mirror's rows and the password, or pose as the database. Only ``verify-ca``
and ``verify-full`` check the certificate; a host on this machine (loopback,
a Unix socket) needs neither.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from urllib.parse import parse_qs, unquote, urlsplit

VERIFIED = frozenset({"verify-ca", "verify-full"})


def dsn_hosts(dsn: str, environ: Mapping[str, str]) -> list[str]:
    """The hosts a DSN names, as asyncpg reads them (several, comma-separated, may be)."""
    parts = urlsplit(dsn)
    query = parse_qs(parts.query)
    if query.get("host"):
        spec = query["host"][-1]
    else:
        spec = unquote(parts.netloc.rpartition("@")[2]) or environ.get("PGHOST", "")
    hosts = []
    for entry in spec.split(","):
        entry = entry.strip()
        if entry.startswith("["):  # [IPv6]:port
            hosts.append(entry[1:].partition("]")[0])
        elif entry.count(":") == 1:  # host:port
            hosts.append(entry.partition(":")[0])
        else:
            hosts.append(entry)
    return hosts


def is_local(host: str) -> bool:
    if not host or host.startswith("/"):  # the default, or a Unix socket's directory
        return True
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def unverified_tls(dsn: str, environ: Mapping[str, str]) -> dict[str, str] | None:
    """What to warn about when a non-local database is reached without a verified
    certificate (None when there is nothing to say)."""
    remote = [h for h in dsn_hosts(dsn, environ) if not is_local(h)]
    if not remote:
        return None
    modes = parse_qs(urlsplit(dsn).query).get("sslmode")
    sslmode = modes[-1] if modes else environ.get("PGSSLMODE", "") or "prefer (the default)"
    if sslmode in VERIFIED:
        return None
    return {
        "host": ",".join(remote),
        "sslmode": sslmode,
        "hint": "the server's certificate is not checked, and with prefer or allow the "
        "connection may be plain text; add sslmode=verify-full and sslrootcert=<CA bundle> "
        "to SYNCER_DATABASE_URL (docs/security.md#tls-to-the-database)",
    }
