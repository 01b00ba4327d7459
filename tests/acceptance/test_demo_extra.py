"""`syncer demo` with part of the demo extra: one line naming what is missing, no traceback.

Each run is a `syncer` process whose PYTHONPATH puts a package first that
fails to import as a missing one does: moto present but not pgserver (a venv
that has moto for other reasons), or moto without its server's dependencies.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.acceptance.cli import syncer


def without(module: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    """An environment in which ``import module`` fails with ModuleNotFoundError."""
    shadow = tmp_path / "shadow" / module
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text(
        f"raise ModuleNotFoundError({f'No module named {module!r}'!r}, name={module!r})\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SYNCER_", "AWS_"))}
    env.update(PYTHONPATH=str(tmp_path / "shadow"), XDG_DATA_HOME=str(tmp_path), **extra)
    return env


@pytest.mark.parametrize(
    ("hidden", "named"),
    [("pgserver", "pgserver (pgserver not found)"), ("flask", "moto[server] (flask not found)")],
)
def test_a_demo_without_part_of_its_extra_names_what_to_install_in_one_line(
    tmp_path: Path, hidden: str, named: str
) -> None:
    done = syncer("demo", env=without(hidden, tmp_path))
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert named in lines[0] and "pip install 'registry-sync[demo]'" in lines[0]
    assert "or set SYNCER_DATABASE_URL" in lines[0]


def test_with_a_database_of_ones_own_the_embedded_server_is_not_needed(tmp_path: Path) -> None:
    env = without("boto3", tmp_path, SYNCER_DATABASE_URL="postgresql://demo@127.0.0.1:1/demo")
    (tmp_path / "shadow" / "pgserver").mkdir()
    (tmp_path / "shadow" / "pgserver" / "__init__.py").write_text(
        "raise ModuleNotFoundError('pgserver', name='pgserver')\n"
    )
    done = syncer("demo", env=env)
    [line] = done.stderr.strip().splitlines()
    assert done.returncode == 2
    assert "boto3 (boto3 not found)" in line and "pgserver" not in line
    assert "SYNCER_DATABASE_URL" not in line
