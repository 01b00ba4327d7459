"""The environment of a `syncer` process pointed at a stand-in, for the tests and the bench."""

from __future__ import annotations

import os
from typing import Any

import boto3

from standin.sagemaker import CREDENTIALS, REGION


def service_env(database_url: str, endpoint: str, **extra: str) -> dict[str, str]:
    """A minimal environment: the DSN, the stand-in for SageMaker and STS, dummy keys."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SYNCER_", "AWS_"))}
    env.update(
        SYNCER_DATABASE_URL=database_url,
        SYNCER_HTTP_PORT="0",
        SYNCER_LOG_FORMAT="json",
        AWS_ENDPOINT_URL=endpoint,
        AWS_REGION=REGION,
        AWS_ACCESS_KEY_ID=CREDENTIALS[0],
        AWS_SECRET_ACCESS_KEY=CREDENTIALS[1],
        AWS_EC2_METADATA_DISABLED="true",
    )
    env.update(extra)
    return env


def boto_client(endpoint: str, service: str = "sagemaker") -> Any:
    """A boto3 client of a stand-in (or moto's server), with its dummy keys."""
    return boto3.client(
        service,
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id=CREDENTIALS[0],
        aws_secret_access_key=CREDENTIALS[1],
    )
