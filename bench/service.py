"""The service under measurement: the real `syncer once` command, in a process of its own.

A subprocess keeps the service's CPU apart from the benchmark's, and gives
its peak RSS exactly; the cycle's own duration, calls and counts come from
the ``sagemaker.sync_runs`` row it wrote, so process start-up (imports,
migrations check, STS) is not counted as sync time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from standin.environment import service_env

LAST_RUN = """
SELECT status, extract(epoch FROM finished_at - started_at)::float8 AS cycle_seconds,
       api_calls, api_throttled, scopes_total, scopes_failed, packages_listed,
       packages_inserted, packages_updated, packages_deleted
  FROM sagemaker.sync_runs ORDER BY run_id DESC LIMIT 1
"""


@dataclass(frozen=True)
class Run:
    """One `syncer once`: the process as seen from outside, the cycle as it recorded itself."""

    exit_code: int
    process_seconds: float
    cpu_seconds: float  # the whole process, start-up included
    peak_rss_mb: float
    status: str
    cycle_seconds: float
    api_calls: int
    api_throttled: int
    scopes_total: int
    scopes_failed: int
    packages_listed: int
    packages_inserted: int
    packages_updated: int
    packages_deleted: int
    stderr_tail: str


def _environment(database_url: str, endpoint: str, settings: dict[str, str]) -> dict[str, str]:
    """The stand-in's environment, quiet, at concurrency 16 and with no rate cap
    unless a scenario sets one (the stand-in has no limit either)."""
    extra = {
        "SYNCER_LOG_LEVEL": "WARNING",
        "SYNCER_CONCURRENCY": "16",
        "SYNCER_MAX_REQUESTS_PER_SECOND": "100000",
    }
    extra.update({f"SYNCER_{key.upper()}": value for key, value in settings.items()})
    return service_env(database_url, endpoint, **extra)


def _peak_rss_mb(pid: int) -> float | None:
    """The process's resident high-water mark (VmHWM), in MB; None once it has exited."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


@dataclass(frozen=True)
class Process:
    exit_code: int
    seconds: float
    cpu_seconds: float  # user + system
    peak_rss_mb: float
    stderr: str


def _run_process(args: list[str], env: dict[str, str], cwd: Path | None = None) -> Process:
    """Run ``python -m syncer ARGS`` to its end.

    The peak RSS is VmHWM, polled while the process runs: it belongs to the
    process's own address space, where the rusage of a child (ru_maxrss) also
    counts the benchmark's own memory, copied into the child before exec. CPU
    time comes from that rusage, which is exact.
    """
    started = time.perf_counter()
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "syncer", *args],
            env=env,
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        peak = 0.0
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid == process.pid:
                break
            peak = max(peak, _peak_rss_mb(process.pid) or 0.0)
            time.sleep(0.05)
        process.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        stderr.seek(0)
        text = stderr.read().decode("utf-8", "replace")
    return Process(process.returncode, seconds, usage.ru_utime + usage.ru_stime, peak, text)


async def syncer_once(
    database_url: str,
    endpoint: str,
    /,
    *,
    full: bool,
    aws: dict[str, str] | None = None,
    code: Path | None = None,
    **settings: str,
) -> Run:
    """Run `syncer once [--full]` with ``SYNCER_<KEY>=value`` for each setting, and
    read the run it recorded from ``database_url``. The service uses that database
    too, unless a ``database_url`` setting names another way to it (a pooler).
    ``aws``: AWS variables to set as well (AWS_RETRY_MODE, AWS_REGION, ...);
    ``code``: another checkout whose `syncer` runs instead, with this interpreter.
    """
    args = ["once", "--full"] if full else ["once"]
    env = _environment(database_url, endpoint, settings)
    env.update(aws or {})
    if code is not None:  # its package first: `-m` puts the working directory first
        env["PYTHONPATH"] = str(code)
    process = await asyncio.to_thread(_run_process, args, env, code)
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow(LAST_RUN)
    finally:
        await conn.close()
    if row is None:
        raise RuntimeError(
            f"syncer once recorded no run (exit {process.exit_code}): {process.stderr[-1000:]}"
        )
    return Run(
        process.exit_code,
        process.seconds,
        process.cpu_seconds,
        process.peak_rss_mb,
        stderr_tail=process.stderr[-2000:],
        **dict(row),
    )


@contextlib.contextmanager
def syncer_run(database_url: str, endpoint: str, **settings: str) -> Iterator[None]:
    """`syncer run` with ``SYNCER_<KEY>=value`` for each setting, until the block ends;
    then SIGTERM, which it answers by finishing its cycle and exiting."""
    env = _environment(database_url, endpoint, settings)
    process = subprocess.Popen(
        [sys.executable, "-m", "syncer", "run"], env=env, stdout=subprocess.DEVNULL
    )
    try:
        yield
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
