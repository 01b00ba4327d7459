"""`syncer demo`: the service on an embedded default, for a first look.

A local SageMaker (moto's server) seeded with a realistic sample registry,
SYNCER_DATABASE_URL or else an embedded PostgreSQL (the pgserver wheel), and
then the ordinary `run` loop. A background thread keeps registering and
approving versions so that each cycle has something to mirror.
Needs the `demo` extra: pip install 'registry-sync[demo]'.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import sys
import threading
import warnings
from pathlib import Path
from typing import Any

from syncer.errors import ConfigError
from syncer.logging import configure_logging
from syncer.settings import load_settings

REGION = "us-east-1"
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
    data = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local/share"))
    data = data / "registry-sync" / "pgdata"
    data.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # platformdirs warns that a container has no XDG_RUNTIME_DIR; harmless here.
        warnings.simplefilter("ignore")
        import pgserver

        server = pgserver.get_server(data, cleanup_mode="stop")  # type: ignore[attr-defined]
    return str(server.get_uri())


def run_demo() -> int:
    try:
        import boto3
        from moto.server import ThreadedMotoServer
    except ImportError:
        raise ConfigError(
            "syncer demo needs the demo extra: pip install 'registry-sync[demo]'"
        ) from None
    from syncer.cli import cmd_run

    dsn = os.environ.get("SYNCER_DATABASE_URL") or _embedded_postgres()
    settings = load_settings(
        database_url=dsn,
        regions=[REGION],
        interval_seconds=float(os.environ.get("SYNCER_INTERVAL_SECONDS", 15)),
        reconcile_interval_seconds=float(os.environ.get("SYNCER_RECONCILE_INTERVAL_SECONDS", 60)),
    )
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

    print(
        f"\nregistry-sync demo: a local SageMaker at {endpoint} with {len(SAMPLE_GROUPS)} groups "
        f"and {packages} packages; syncing every {settings.interval_seconds:.0f}s into\n"
        f"  {settings.redacted_database_url()}\n\n"
        f"Connect:  psql '{settings.redacted_database_url()}'\n"
        "Try:      SELECT model_package_group_name, model_package_version, creation_time\n"
        "            FROM sagemaker.latest_approved_model_packages;\n"
        "          SELECT * FROM sagemaker.pending_approvals ORDER BY waiting_for DESC;\n"
        f"Health:   http://127.0.0.1:{settings.http_port}/readyz  (metrics at /metrics)\n"
        "Stop with Ctrl-C.\n",
        file=sys.stderr,
    )
    try:
        return asyncio.run(cmd_run(settings, endpoint_url=endpoint, static_credentials=DEMO_KEYS))
    finally:
        stop_activity.set()
        moto.stop()
