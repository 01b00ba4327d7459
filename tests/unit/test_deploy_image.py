"""The image's supply chain and the compose file, statically (deploy/smoke.sh runs
the image itself): a base image chosen at build time, hash-locked dependencies
installed with --require-hashes, a service virtualenv without pip, a stand-in
HEALTHCHECK that follows --port, and a compose file for local use only whose
service role is no superuser."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from packaging.requirements import Requirement

from standin.sagemaker import Registry, StandIn, probe, serve_in_thread, served_port
from tests.unit.test_deploy_static import (
    DEPLOY,
    ROOT,
    dockerfile,
    exec_form,
    load_yaml,
    only,
    stages,
)

LOCK = ROOT / "requirements" / "image.txt"
BUILD_LOCK = ROOT / "requirements" / "build.txt"


def locked(path: Path) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of a pip-compile --generate-hashes file."""
    text = path.read_text().replace("\\\n", " ")
    pins = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement, *options = line.split()
        name, _, version = requirement.partition("==")
        assert version, f"{path.name}: {requirement} is not pinned with =="
        hashes = [o.removeprefix("--hash=sha256:") for o in options if o.startswith("--hash=")]
        assert hashes and all(re.fullmatch(r"[0-9a-f]{64}", h) for h in hashes), requirement
        pins[name.lower().replace("_", "-")] = (version, hashes)
    return pins


def test_every_stage_starts_from_the_base_image_build_argument() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert not text.startswith("# syntax="), "a frontend image BuildKit would have to pull"
    first_from = text.index("\nFROM ")
    assert re.search(r"^ARG BASE_IMAGE=python:3\.11-slim$", text[:first_from], re.MULTILINE)
    froms = [i.args for i in dockerfile() if i.keyword == "FROM"]
    assert froms and all(f.startswith("${BASE_IMAGE} AS ") for f in froms), froms
    assert (
        "--build-arg BASE_IMAGE=python:3.11-slim@sha256:"
        in (ROOT / "docs" / "operations" / "deploy.md").read_text()
    )


def test_the_build_installs_the_locked_hashes_and_the_service_venv_has_no_pip() -> None:
    build = " ".join(i.args for i in stages()["build"] if i.keyword == "RUN")
    assert "python -m venv --without-pip /opt/registry-sync" in build
    assert re.search(r"--require-hashes [^&]*-r requirements/image\.txt", build), build
    assert re.search(r"--require-hashes [^&]*-r requirements/build\.txt", build), build
    assert "--no-build-isolation" in build  # the wheel is built with the locked backend
    copies = [i.args for i in stages()["build"] if i.keyword == "COPY"]
    assert "requirements/ requirements/" in copies
    assert "!requirements/" in (ROOT / ".dockerignore").read_text().splitlines()
    # Uninstalling pip in a later layer only hides it; the image is no smaller.
    assert not any("pip uninstall" in i.args for i in dockerfile())


def test_the_lock_pins_every_dependency_within_the_projects_ranges() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pins = locked(LOCK)
    for spec in project["project"]["dependencies"]:
        requirement = Requirement(spec)
        name = requirement.name.lower().replace("_", "-")
        assert name in pins, f"{name} missing from requirements/image.txt: run make lock"
        version = pins[name][0]
        assert requirement.specifier.contains(version), (
            f"requirements/image.txt pins {name}=={version}, outside {requirement.specifier}: "
            "run make lock"
        )
    assert "registry-sync" not in pins  # the project's own wheel is built, not locked
    backend = Requirement(project["build-system"]["requires"][0])
    version = locked(BUILD_LOCK)[backend.name][0]
    assert backend.specifier.contains(version)
    assert (
        "pip-compile" in LOCK.read_text() and "make lock" in (ROOT / "CONTRIBUTING.md").read_text()
    )


def test_the_standin_healthcheck_probes_the_port_it_was_started_with(tmp_path: Path) -> None:
    healthcheck = only(stages()["standin"], "HEALTHCHECK").args
    assert exec_form(healthcheck.split("CMD", 1)[1]) == [
        "python",
        "-m",
        "standin",
        "--probe",
    ]
    cmdline = ["python", "-m", "standin", "--host", "0.0.0.0", "--port", "6123"]
    assert served_port(cmdline) == 6123
    assert served_port(["/sbin/docker-init", "--", *cmdline[:3]]) == 5000  # its default

    with serve_in_thread(StandIn(Registry())) as url:
        port = urlsplit(url).port
        proc = tmp_path / "cmdline"
        proc.write_bytes(b"\0".join(p.encode() for p in [*cmdline[:-1], str(port)]) + b"\0")
        probe(str(proc))  # answers on the started port
        proc.write_bytes(b"python\0-m\0standin\0--port\0" + str(port + 1).encode() + b"\0")
        with pytest.raises(OSError):
            probe(str(proc))


@pytest.fixture
def compose() -> dict[str, dict[str, object]]:
    return load_yaml(DEPLOY / "compose.yaml")


def test_compose_says_it_is_local_only_and_the_syncer_is_no_superuser(
    compose: dict[str, dict[str, object]],
) -> None:
    head = (DEPLOY / "compose.yaml").read_text().split("\n\n", 1)[0]
    assert head.startswith("# LOCAL USE ONLY.")
    services: dict[str, dict[str, object]] = compose["services"]  # type: ignore[assignment]
    postgres, syncer = services["postgres"], services["syncer"]
    superuser = postgres["environment"]["POSTGRES_USER"]  # type: ignore[index]
    dsn = urlsplit(syncer["environment"]["SYNCER_DATABASE_URL"])  # type: ignore[index]
    assert dsn.username != superuser

    mounts = dict(v.split(":", 1) for v in postgres["volumes"])  # type: ignore[attr-defined]
    init = next(s for s, target in mounts.items() if "/docker-entrypoint-initdb.d/" in target)
    sql = (DEPLOY / init).read_text()
    role = re.search(rf"CREATE ROLE {dsn.username} LOGIN PASSWORD '([^']+)'([^;]*);", sql)
    assert role, f"{init} does not create {dsn.username}"
    assert role[1] == dsn.password
    assert "NOSUPERUSER" in role[2] and "NOCREATEROLE" in role[2]
    assert re.search(rf"GRANT CONNECT, CREATE ON DATABASE {dsn.path[1:]} TO {dsn.username};", sql)
    # The migrations grant to the reader role, which the service may not create.
    assert "CREATE ROLE sagemaker_reader NOLOGIN;" in sql
    # Every published port stays on this machine.
    for service in services.values():
        for mapping in service.get("ports", []):  # type: ignore[attr-defined]
            assert mapping.startswith("127.0.0.1:"), mapping
