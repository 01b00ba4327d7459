"""The benchmark's table: one row per measure, service beside baseline, with the target."""

from __future__ import annotations

import os
import platform
import sys
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    scenario: str
    measure: str
    service: str
    baseline: str = "-"
    ratio: str = "-"
    target: str = "-"
    met: bool | None = None  # None: reported, no target


COLUMNS = ("#", "measure", "registry-sync", "baseline", "ratio", "target", "met")


def _cells(row: Row) -> tuple[str, ...]:
    met = {True: "yes", False: "**no**", None: ""}[row.met]
    return (row.scenario, row.measure, row.service, row.baseline, row.ratio, row.target, met)


def markdown(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_cells(row)) + " |" for row in rows]
    return "\n".join(lines)


def machine(postgres_version: str) -> str:
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} CPUs ({model}), {memory:.1f} GiB RAM, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}, "
        f"PostgreSQL {postgres_version}"
    )


def seconds(value: float) -> str:
    return f"{value:.2f} s"


def times(value: float) -> str:
    return f"{value:.1f}x"


def count(value: float) -> str:
    return f"{value:,.0f}"


def progress(message: str) -> None:
    """A progress line on stderr; the table goes to stdout."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
