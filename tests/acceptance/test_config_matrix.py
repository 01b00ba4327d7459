"""Every variable missing, empty, out of range or malformed: one line naming it, exit 2.

The whole matrix runs through the command line's entry point in process (the
same ``main`` the console script calls: fast enough for ~80 cases); a sample
of it runs as real subprocesses of every command against an empty database,
which must still be empty afterwards: bad configuration writes nothing.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import asyncpg
import pytest

from standin.environment import service_env
from syncer.cli import main

UNREACHABLE = "http://127.0.0.1:9"  # configuration fails before any request is made
SECRET = "pw-Sup3rSecret"

MISSING = None
CASES: list[tuple[str, str | None, str]] = [
    # (variable, value or MISSING, the start of the message after "syncer: error: ")
    ("SYNCER_DATABASE_URL", MISSING, "SYNCER_DATABASE_URL is required"),
    ("SYNCER_DATABASE_URL", "", "SYNCER_DATABASE_URL: Value error, must be a postgresql:// URL"),
    ("SYNCER_DATABASE_URL", "localhost:5432/db", "SYNCER_DATABASE_URL: Value error, must be"),
    ("SYNCER_DATABASE_URL", f"mysql://u:{SECRET}@h/db", "SYNCER_DATABASE_URL: Value error, must"),
    (
        "SYNCER_DATABASE_URL",
        f"postgresql://u:{SECRET}@h:port/db",
        "SYNCER_DATABASE_URL: Value error, port",
    ),
    (
        "SYNCER_DATABASE_URL",
        f"postgresql://u:{SECRET}@h:70000/db",
        "SYNCER_DATABASE_URL: Value error, port",
    ),
    (
        "SYNCER_DATABASE_URL",
        f"postgresql://u:{SECRET}@[::1/db",
        "SYNCER_DATABASE_URL: Value error, Invalid IPv6",
    ),
    ("AWS_REGION", MISSING, "SYNCER_REGIONS: no region configured"),
    ("AWS_REGION", "", "SYNCER_REGIONS: no region configured"),
    ("AWS_REGION", "us east 1", "AWS_REGION: not a region name"),
    ("SYNCER_REGIONS", "us-east-1,eu west", "SYNCER_REGIONS: Value error, not a region name"),
    ("SYNCER_REGIONS", "-us-east-1", "SYNCER_REGIONS: Value error, not a region name"),
    ("SYNCER_ROLE_ARNS", "admin", "SYNCER_ROLE_ARNS: Value error, not an IAM role ARN"),
    ("SYNCER_ROLE_ARNS", "arn:aws:iam::123456789012:user/bob", "SYNCER_ROLE_ARNS: Value error"),
    (
        "SYNCER_INCLUDE_UNVERSIONED",
        "",
        "SYNCER_INCLUDE_UNVERSIONED: Input should be a valid boolean",
    ),
    (
        "SYNCER_INCLUDE_UNVERSIONED",
        "maybe",
        "SYNCER_INCLUDE_UNVERSIONED: Input should be a valid boolean",
    ),
    (
        "SYNCER_INCLUDE_UNVERSIONED",
        "2",
        "SYNCER_INCLUDE_UNVERSIONED: Input should be a valid boolean",
    ),
    # What SageMaker's NameContains accepts, or every listing would fail.
    (
        "SYNCER_GROUP_NAME_CONTAINS",
        "team_a",
        "SYNCER_GROUP_NAME_CONTAINS: Value error, letters, digits and hyphens only",
    ),
    (
        "SYNCER_GROUP_NAME_CONTAINS",
        "x" * 64,
        "SYNCER_GROUP_NAME_CONTAINS: Value error, letters, digits and hyphens only",
    ),
    ("SYNCER_LOG_LEVEL", "", "SYNCER_LOG_LEVEL: Input should be"),
    ("SYNCER_LOG_LEVEL", "LOUD", "SYNCER_LOG_LEVEL: Input should be"),
    ("SYNCER_LOG_FORMAT", "", "SYNCER_LOG_FORMAT: Input should be"),
    ("SYNCER_LOG_FORMAT", "xml", "SYNCER_LOG_FORMAT: Input should be"),
    (
        "SYNCER_RECONCILE_INTERVAL_SECONDS",
        "20",  # below the 40 s default interval
        "configuration: Value error, SYNCER_RECONCILE_INTERVAL_SECONDS must be >=",
    ),
]
# Numbers: empty, not a number, out of range below and above, not finite.
NUMBERS: dict[str, tuple[list[str], list[str]]] = {
    # variable: (values below or at a bound that is refused, values above the upper bound)
    "SYNCER_INTERVAL_SECONDS": (["0", "-1"], ["1e12"]),
    "SYNCER_RECONCILE_INTERVAL_SECONDS": (["0"], ["1e12"]),
    "SYNCER_LOOKBACK_SECONDS": (["-1"], ["1e12"]),
    "SYNCER_CONCURRENCY": (["0"], ["257"]),
    "SYNCER_DATABASE_CONNECTIONS": (["0"], ["257"]),
    "SYNCER_MAX_REQUESTS_PER_SECOND": (["0", "-5"], []),
    "SYNCER_PAGE_SIZE": (["0"], ["101"]),
    "SYNCER_MAX_ATTEMPTS": (["0"], ["21"]),
    "SYNCER_API_TIMEOUT_SECONDS": (["0"], ["86401"]),
    "SYNCER_STATEMENT_TIMEOUT_SECONDS": (["0"], ["1e9"]),
    "SYNCER_HTTP_PORT": (["-1"], ["65536"]),
}
INTEGERS = {
    "SYNCER_CONCURRENCY",
    "SYNCER_DATABASE_CONNECTIONS",
    "SYNCER_PAGE_SIZE",
    "SYNCER_MAX_ATTEMPTS",
    "SYNCER_HTTP_PORT",
}
for variable, (low, high) in NUMBERS.items():
    kind = "integer" if variable in INTEGERS else "number"
    CASES += [
        (variable, "", f"{variable}: Input should be a valid {kind}"),
        (variable, "ten", f"{variable}: Input should be a valid {kind}"),
        *((variable, value, f"{variable}: Input should be greater than") for value in low),
        *(
            (variable, value, f"{variable}: Input should be less than or equal to")
            for value in high
        ),
    ]
    if kind == "number":  # "inf" and "nan" parse as floats, and 1e400 overflows to inf
        CASES += [
            (variable, v, f"{variable}: Input should be a finite number")
            for v in ("inf", "nan", "1e400")
        ]
    else:
        CASES.append((variable, "1.5", f"{variable}: Input should be a valid integer"))


def case_env(database_url: str, variable: str, value: str | None) -> dict[str, str]:
    env = service_env(database_url, UNREACHABLE, SYNCER_HTTP_PORT="8080")
    if value is None:
        env.pop(variable, None)
    else:
        env[variable] = value
    return env


def assert_one_line_naming(variable: str, stderr: str, stdout: str, message: str) -> None:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith(f"syncer: error: {message}"), lines[0]
    name = "SYNCER_REGIONS" if variable == "AWS_REGION" and "no region" in message else variable
    assert name in lines[0]
    assert "Traceback" not in stderr and not stdout
    assert SECRET not in stderr + stdout


@pytest.fixture(scope="module")
def unreachable_dsn() -> str:
    # Never reached by these cases (configuration fails first); the sample below
    # checks that on a real, empty database.
    return "postgresql://registry_sync@127.0.0.1:9/never"


@pytest.mark.parametrize(("variable", "value", "message"), CASES)
def test_bad_variable_is_one_line_naming_it_exit_2(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    unreachable_dsn: str,
    variable: str,
    value: str | None,
    message: str,
) -> None:
    for key in list(os.environ):
        if key.startswith(("SYNCER_", "AWS_")):
            monkeypatch.delenv(key)
    for key, setting in case_env(unreachable_dsn, variable, value).items():
        monkeypatch.setenv(key, setting)

    code = main(["once"])

    out, err = capsys.readouterr()
    assert code == 2, err
    assert_one_line_naming(variable, err, out, message)


# One bad value per kind, each through a different command, as real processes.
SAMPLE = [
    ("run", "SYNCER_DATABASE_URL", f"postgresql://u:{SECRET}@h:port/db"),
    ("once", "SYNCER_INTERVAL_SECONDS", "inf"),
    ("once", "AWS_REGION", "us east 1"),
    ("once", "SYNCER_REGIONS", "us-east-1,eu west"),
    ("migrate", "SYNCER_STATEMENT_TIMEOUT_SECONDS", "1e9"),
    ("status", "SYNCER_CONCURRENCY", "0"),
    ("check", "SYNCER_LOG_FORMAT", "xml"),
    ("run", "SYNCER_LOOKBACK_SECONDS", "nan"),
]


async def test_a_sample_as_processes_of_every_command_writes_nothing(
    empty_database_url: str,
) -> None:
    messages = {(v, value): m for v, value, m in CASES}
    gate = asyncio.Semaphore(4)

    async def run(command: str, variable: str, value: str) -> tuple[str, str, int, str, str]:
        async with gate:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "syncer",
                command,
                env=case_env(empty_database_url, variable, value),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            out, err = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode is not None
        return variable, value, process.returncode, out.decode(), err.decode()

    results = await asyncio.gather(*(run(*case) for case in SAMPLE))

    for variable, value, code, out, err in results:
        assert code == 2, (variable, value, err)
        assert_one_line_naming(variable, err, out, messages[(variable, value)])
    conn = await asyncpg.connect(empty_database_url)
    try:
        assert await conn.fetchval("SELECT to_regnamespace('sagemaker')") is None
    finally:
        await conn.close()
