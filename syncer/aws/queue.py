"""The SQS queue that SageMaker's EventBridge events reach: long polls, deletes,
visibility, through aiobotocore.

The queue belongs to the deployment, not to a mirrored account: its client uses
the base credentials, in the region its URL names. A URL on an AWS host leaves
the endpoint to botocore (``AWS_ENDPOINT_URL_SQS`` and VPC endpoints apply);
any other host (a local stand-in) is the endpoint itself. Errors become
``QueueError``, which says whether the queue refused (access denied, no such
queue) or could not be reached.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from syncer.aws.clients import retry_mode
from syncer.errors import SourceError

# The IAM actions these calls need (the batch forms are authorised by them too);
# deploy/iam-policy.json grants exactly these, on the queue only.
QUEUE_ACTIONS = ("ReceiveMessage", "DeleteMessage", "ChangeMessageVisibility")
# SQS's longest wait and largest batch: an idle queue costs one call per 20 s.
WAIT_SECONDS = 20
BATCH = 10
# A long poll answers within WAIT_SECONDS; the read timeout leaves room for it.
READ_TIMEOUT_SECONDS = WAIT_SECONDS + 15
# Codes meaning the queue is there but answers slowly or not at all: retried.
_TRANSIENT = frozenset(
    {
        "InternalError",
        "InternalFailure",
        "ServiceUnavailable",
        "RequestThrottled",
        "ThrottlingException",
        "KmsThrottled",
        "OverLimit",
    }
)
# `syncer check`'s receipt, and the answers that mean the queue let the call in.
CHECK_RECEIPT = "registry-sync-check"
_NO_SUCH_RECEIPT = frozenset({"ReceiptHandleIsInvalid", "MessageNotInflight"})
_AWS_HOST = re.compile(r"(^|\.)(amazonaws\.com(\.cn)?|api\.aws)$")
_REGION_IN_HOST = re.compile(r"^(?:sqs[.-])?([a-z]{2}(?:-[a-z]+)+-\d+)\.")


class QueueError(SourceError):
    """The queue refused a call or could not be reached."""

    def __init__(self, message: str, code: str | None = None, *, refused: bool) -> None:
        super().__init__(message, code)
        self.refused = refused


@dataclass(frozen=True)
class QueueMessage:
    message_id: str
    receipt: str
    body: str
    receive_count: int  # 1 on the first delivery
    sent_at: datetime | None  # when SQS took it in


def queue_region(url: str) -> str | None:
    """The region an SQS queue URL names in its host (None: a host that names none)."""
    match = _REGION_IN_HOST.match(urlsplit(url).hostname or "")
    return match.group(1) if match else None


def queue_endpoint(url: str) -> str | None:
    """The endpoint to send a queue's calls to: None (botocore's own) on an AWS host,
    else the URL's origin."""
    parts = urlsplit(url)
    if _AWS_HOST.search(parts.hostname or ""):
        return None
    return f"{parts.scheme}://{parts.netloc}"


class EventQueue:
    """One queue, through one client: the calls the event consumer makes."""

    def __init__(self, client: Any, url: str) -> None:
        self._client = client
        self.url = url

    async def receive(self) -> list[QueueMessage]:
        """Up to BATCH messages, waiting up to WAIT_SECONDS for the first."""
        response = await _call(
            "ReceiveMessage",
            self._client.receive_message(
                QueueUrl=self.url,
                MaxNumberOfMessages=BATCH,
                WaitTimeSeconds=WAIT_SECONDS,
                MessageSystemAttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
            ),
        )
        return [_message(m) for m in response.get("Messages") or []]

    async def delete(self, messages: Sequence[QueueMessage]) -> list[str]:
        """Delete these messages (at most BATCH); returns the ids SQS did not delete."""
        if not messages:
            return []
        response = await _call(
            "DeleteMessageBatch",
            self._client.delete_message_batch(
                QueueUrl=self.url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m.receipt} for i, m in enumerate(messages)
                ],
            ),
        )
        return [messages[int(f["Id"])].message_id for f in response.get("Failed") or []]

    async def check(self) -> None:
        """Whether the queue exists and the service may use it, touching no message:
        a visibility change for a receipt that names none is refused as invalid
        only once the queue and the permission are found."""
        try:
            await _call(
                "ChangeMessageVisibility",
                self._client.change_message_visibility(
                    QueueUrl=self.url, ReceiptHandle=CHECK_RECEIPT, VisibilityTimeout=0
                ),
            )
        except QueueError as exc:
            if exc.code not in _NO_SUCH_RECEIPT:
                raise

    async def retry_after(self, message: QueueMessage, seconds: int) -> None:
        """Make a message visible again after ``seconds`` (0: now) instead of the
        queue's visibility timeout."""
        await _call(
            "ChangeMessageVisibility",
            self._client.change_message_visibility(
                QueueUrl=self.url, ReceiptHandle=message.receipt, VisibilityTimeout=seconds
            ),
        )


@contextlib.asynccontextmanager
async def open_queue(
    url: str,
    *,
    default_region: str,
    max_attempts: int,
    static_credentials: tuple[str, str] | None = None,
) -> AsyncIterator[EventQueue]:
    """A client for the queue at ``url`` (base credentials; the demo's fixed keys)."""
    session = get_session()
    if static_credentials:
        session.set_credentials(*static_credentials)
    config = AioConfig(
        retries={"mode": retry_mode(), "total_max_attempts": max_attempts},
        connect_timeout=10,
        read_timeout=READ_TIMEOUT_SECONDS,
        user_agent_appid="registry-sync",
    )
    kwargs: dict[str, Any] = {"config": config}
    endpoint = queue_endpoint(url)
    if endpoint:
        kwargs["endpoint_url"] = endpoint
    region = queue_region(url) or default_region
    async with session.create_client("sqs", region_name=region, **kwargs) as client:
        yield EventQueue(client, url)


def _message(item: dict[str, Any]) -> QueueMessage:
    attributes = item.get("Attributes") or {}
    sent = attributes.get("SentTimestamp")
    return QueueMessage(
        message_id=str(item.get("MessageId", "")),
        receipt=str(item.get("ReceiptHandle", "")),
        body=str(item.get("Body", "")),
        receive_count=int(attributes.get("ApproximateReceiveCount") or 1),
        sent_at=datetime.fromtimestamp(int(sent) / 1000, UTC) if sent else None,
    )


async def _call(operation: str, call: Any) -> dict[str, Any]:
    """botocore and transport errors become QueueError with one readable line."""
    try:
        result: dict[str, Any] = await call
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code") or "Error")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        refused = code not in _TRANSIENT and 400 <= int(status) < 500
        message = f"sqs:{operation}: {code}: {error.get('Message', '')}".rstrip(": ")
        raise QueueError(message, code, refused=refused) from exc
    except (BotoCoreError, aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise QueueError(f"sqs:{operation}: {type(exc).__name__}: {exc}", refused=False) from exc
    return result
