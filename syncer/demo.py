"""`syncer demo`: the service on an embedded default, for a first look.

A local SageMaker (moto's server) seeded with a realistic sample registry,
SYNCER_DATABASE_URL or else an embedded PostgreSQL (the pgserver wheel), and
then the ordinary `run` loop. A background thread keeps registering and
approving versions so that each cycle has something to mirror.
Needs the `demo` extra: pip install 'registry-sync[demo]'.

Each run starts a new registry, and shows exactly that registry: the
embedded server gets a new database each run (the last run's stays until the
next one starts, for a look after Ctrl-C). A database given in
SYNCER_DATABASE_URL is never dropped or emptied; there the first cycle is a
reconcile, which marks what earlier runs stored and this registry lacks
deleted (they stay in the tables with deleted_at set, out of the views).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import random
import socket
import sys
import threading
import warnings
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from syncer.errors import ConfigError
from syncer.http import listen
from syncer.logging import configure_logging
from syncer.service import open_service, run_service
from syncer.settings import Settings, load_settings

REGION = "us-east-1"
EMBEDDED_DATABASE = "registry_sync_demo"
DEMO_KEYS = ("demo", "demo")  # moto accepts any credentials
SAMPLE_GROUPS = {
    "churn-predictor": ("Monthly churn propensity, XGBoost", 24),
    "fraud-detector": ("Card transaction fraud scoring", 57),
    "recsys-ranker": ("Home feed ranking model", 131),
    "demand-forecast": ("Weekly demand per store and SKU", 12),
    "support-intent": ("Support ticket intent classifier", 8),
    "credit-risk": ("Consumer credit default risk", 3),
    "image-moderation": ("Upload moderation, ViT fine-tune", 0),
}
UNVERSIONED = ("legacy-pricing-v1", "legacy-pricing-v2", "marketplace-sentiment")
_INFERENCE = {
    "Containers": [{"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/model:latest"}],
    "SupportedContentTypes": ["text/csv"],
    "SupportedResponseMIMETypes": ["text/csv"],
}


def seed_registry(client: Any, rng: random.Random) -> int:
    """Create the sample groups and versions; returns the number of packages."""
    created = 0
    for name, (description, versions) in SAMPLE_GROUPS.items():
        client.create_model_package_group(
            ModelPackageGroupName=name, ModelPackageGroupDescription=description
        )
        for version in range(1, versions + 1):
            # Older versions are mostly decided; the newest few are waiting.
            recent = version > versions - 3
            status = (
                "PendingManualApproval"
                if recent
                else rng.choice(["Approved", "Approved", "Rejected"])
            )
            client.create_model_package(
                ModelPackageGroupName=name,
                ModelPackageDescription=f"{name} build {version}",
                InferenceSpecification=_INFERENCE,
                ModelApprovalStatus=status,
            )
            created += 1
    for name in UNVERSIONED:
        client.create_model_package(
            ModelPackageName=name,
            ModelPackageDescription=f"{name} (unversioned)",
            InferenceSpecification=_INFERENCE,
        )
        created += 1
    return created


def _registry_activity(client: Any, stop: threading.Event, every: float) -> None:
    """New versions arrive and pending ones get decided, as in a busy team."""
    rng = random.Random(7)
    while not stop.wait(every):
        group = rng.choice(list(SAMPLE_GROUPS))
        client.create_model_package(
            ModelPackageGroupName=group,
            ModelPackageDescription=f"{group} nightly build",
            InferenceSpecification=_INFERENCE,
            ModelApprovalStatus="PendingManualApproval",
        )
        pending = client.list_model_packages(
            ModelPackageGroupName=group, ModelApprovalStatus="PendingManualApproval"
        )["ModelPackageSummaryList"]
        if pending:
            client.update_model_package(
                ModelPackageArn=rng.choice(pending)["ModelPackageArn"],
                ModelApprovalStatus=rng.choice(["Approved", "Rejected"]),
            )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _embedded_postgres() -> str:
    """A new, empty database on the embedded server: this run's registry only."""
    data = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local/share"))
    data = data / "registry-sync" / "pgdata"
    data.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # platformdirs warns that a container has no XDG_RUNTIME_DIR; harmless here.
        warnings.simplefilter("ignore")
        import pgserver

        server = pgserver.get_server(data, cleanup_mode="stop")  # type: ignore[attr-defined]
    # The server and its data directory are the demo's own; the database the
    # previous run mirrored into goes, whatever it held.
    server.psql(
        "SET client_min_messages = warning;\n"
        f"DROP DATABASE IF EXISTS {EMBEDDED_DATABASE} WITH (FORCE);\n"
        f"CREATE DATABASE {EMBEDDED_DATABASE};\n"
    )
    return str(server.get_uri(EMBEDDED_DATABASE))


def _demo_settings(database_url: str) -> Settings:
    return load_settings(
        database_url=database_url,
        regions=[REGION],
        interval_seconds=float(os.environ.get("SYNCER_INTERVAL_SECONDS", 15)),
        reconcile_interval_seconds=float(os.environ.get("SYNCER_RECONCILE_INTERVAL_SECONDS", 60)),
        # moto lists what it has at once: nothing recent needs sparing from a sweep.
        lookback_seconds=float(os.environ.get("SYNCER_LOOKBACK_SECONDS", 0)),
        http_host=os.environ.get("SYNCER_HTTP_HOST") or "127.0.0.1",
    )


def _demo_listener(settings: Settings) -> socket.socket | None:
    """SYNCER_HTTP_PORT if set (0: no HTTP), else a free port on SYNCER_HTTP_HOST."""
    if "SYNCER_HTTP_PORT" not in os.environ:
        return listen(settings.http_host, 0)
    return listen(settings.http_host, settings.http_port) if settings.http_port else None


async def _reconcile(settings: Settings, **source_extra: Any) -> None:
    async with open_service(settings, **source_extra) as service:
        await service.syncer.run_cycle(full=True, wait=True)


# What the demo imports, and from which distribution each comes (the demo extra).
DEMO_MODULES = {"boto3": "boto3", "moto.server": "moto[server]"}
EMBEDDED_MODULES = {"pgserver": "pgserver"}


def missing_demo_modules(embedded: bool) -> list[str]:
    """The distributions the demo needs that cannot be imported; ``embedded``: the
    embedded PostgreSQL's too. Imported, not only looked up: moto's server needs
    flask and more, which an install of moto alone lacks."""
    missing = []
    needed = {**DEMO_MODULES, **(EMBEDDED_MODULES if embedded else {})}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pgserver's import warns in a container
        for module, distribution in needed.items():
            try:
                importlib.import_module(module)
            except ImportError as exc:
                missing.append(f"{distribution} ({exc.name or module} not found)")
    return missing


def run_demo() -> int:
    user_database = os.environ.get("SYNCER_DATABASE_URL")
    missing = missing_demo_modules(embedded=not user_database)
    if missing:
        alternative = (
            ""
            if user_database
            else ", or set SYNCER_DATABASE_URL to a PostgreSQL of yours instead of the embedded one"
        )
        raise ConfigError(
            f"syncer demo needs the demo extra, which is missing {', '.join(missing)}: "
            f"pip install 'registry-sync[demo]'{alternative}"
        )
    import boto3
    from moto.server import ThreadedMotoServer

    # Settings and the port before anything starts: bad input or a busy port
    # ends the demo with one line, nothing written.
    settings = _demo_settings(user_database or "postgresql://demo@127.0.0.1/demo")
    listener = _demo_listener(settings)
    with listener or nullcontext():
        if not user_database:
            settings = _demo_settings(_embedded_postgres())
        configure_logging(settings.log_level, settings.log_format)

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's per-request lines
        port = _free_port()
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        moto.start()
        endpoint = f"http://127.0.0.1:{port}"
        client = boto3.client(
            "sagemaker",
            region_name=REGION,
            endpoint_url=endpoint,
            aws_access_key_id=DEMO_KEYS[0],
            aws_secret_access_key=DEMO_KEYS[1],
        )
        packages = seed_registry(client, random.Random(42))
        stop_activity = threading.Event()
        activity = threading.Thread(
            target=_registry_activity,
            args=(client, stop_activity, settings.interval_seconds),
            name="demo-registry-activity",
            daemon=True,
        )
        activity.start()
        source = {"endpoint_url": endpoint, "static_credentials": DEMO_KEYS}
        try:
            if user_database:
                # Earlier runs' packages are in this database: a reconcile first
                # marks those this registry lacks deleted, before the views are read.
                asyncio.run(_reconcile(settings, **source))
            _print_banner(settings, endpoint, packages, listener, reused=bool(user_database))
            return asyncio.run(run_service(settings, listener=listener, **source))
        finally:
            stop_activity.set()
            moto.stop()


def _print_banner(
    settings: Settings,
    endpoint: str,
    packages: int,
    listener: socket.socket | None,
    *,
    reused: bool,
) -> None:
    database = settings.redacted_database_url()
    where = (
        "  (yours: never dropped or emptied; reconciled against this run's registry first)\n"
        if reused
        else "  (embedded, new for this run)\n"
    )
    if listener is None:
        health = "Health:   off (SYNCER_HTTP_PORT=0)\n"
    else:
        host, port = listener.getsockname()[:2]
        host = f"[{host}]" if ":" in host else host
        health = f"Health:   http://{host}:{port}/readyz  (metrics at /metrics)\n"
    print(
        f"\nregistry-sync demo: a local SageMaker at {endpoint} with {len(SAMPLE_GROUPS)} groups "
        f"and {packages} packages; syncing every {settings.interval_seconds:.0f}s into\n"
        f"  {database}\n{where}\n"
        f"Connect:  psql '{database}'\n"
        "Try:      SELECT model_package_group_name, model_package_version, creation_time\n"
        "            FROM sagemaker.latest_approved_model_packages;\n"
        "          SELECT * FROM sagemaker.pending_approvals ORDER BY waiting_for DESC;\n"
        f"{health}"
        "Stop with Ctrl-C.\n",
        file=sys.stderr,
        flush=True,
    )
