"""PgBouncer in transaction mode, started by the test suite in front of the test server.

Debian's ``pgbouncer`` with its stock settings, except what a private
instance needs: its own port, socket directory, log and pid file, trust
authentication of the test user (the server behind it trusts it too), every
database passed through, and ``pool_mode = transaction``, the mode that
providers' pooled endpoints run. ``make test`` installs the package where it
is missing (``.ci/ensure-pgbouncer``); without it the tests that need it fail.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from standin.dsn import server_address

POOLER_ENV = {"SYNCER_DATABASE_POOLER": "transaction"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgBouncer:
    port: int
    user: str
    log: Path

    def dsn(self, database: str) -> str:
        """A DSN for ``database`` through the pooler."""
        return urlunsplit(
            ("postgresql", f"{self.user}@127.0.0.1:{self.port}", f"/{database}", "", "")
        )

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""


@contextlib.contextmanager
def running_pgbouncer(server_dsn: str) -> Iterator[PgBouncer]:
    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    if not os.path.exists(binary):
        raise RuntimeError(
            "pgbouncer is not installed (apt-get install pgbouncer; `make test` does it as root)"
        )
    host, port = server_address(server_dsn)
    user = urlsplit(server_dsn).username or "postgres"
    root = Path(tempfile.mkdtemp(prefix="rs-pgbouncer-"))
    listen = _free_port()
    (root / "users.txt").write_text(f'"{user}" ""\n')
    (root / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"* = host={host} port={port}\n"
        "[pgbouncer]\n"
        "listen_addr = 127.0.0.1\n"
        f"listen_port = {listen}\n"
        f"unix_socket_dir = {root}\n"
        "auth_type = trust\n"
        f"auth_file = {root / 'users.txt'}\n"
        "pool_mode = transaction\n"
        f"logfile = {root / 'pgbouncer.log'}\n"
        f"pidfile = {root / 'pgbouncer.pid'}\n"
    )
    command = [binary, str(root / "pgbouncer.ini")]
    if os.geteuid() == 0:  # it refuses to run as root; CI runs as root
        if host.startswith("/"):  # as the server's own user, who may open its socket
            runs_as = pwd.getpwuid(os.stat(host).st_uid).pw_name
        else:
            runs_as = "postgres" if _user_exists("postgres") else "nobody"
        shutil.chown(root, runs_as)
        for path in root.iterdir():
            shutil.chown(path, runs_as)
        command[1:1] = ["-u", runs_as]
    output = root / "output.txt"
    with output.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    bouncer = PgBouncer(listen, user, root / "pgbouncer.log")
    try:
        deadline = time.monotonic() + 15
        while True:
            if process.poll() is not None:
                said = output.read_text(errors="replace")
                raise RuntimeError(f"pgbouncer exited: {said}{bouncer.log_tail()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", listen), 1):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"pgbouncer did not listen: {bouncer.log_tail()}")
            time.sleep(0.05)
        yield bouncer
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(root, ignore_errors=True)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True
