"""Run the real `syncer` command line in a subprocess."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping


def syncer(
    *args: str, env: Mapping[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "syncer", *args],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
