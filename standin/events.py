"""The EventBridge events SageMaker would send for the stand-in's registry, and
CloudTrail's delete calls: what tests and the bench put into an SQS queue.

Shaped as AWS's sample event for "SageMaker Model Package State Change": the
package's record in ``detail``, its times as ISO strings to the second.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from standin.sagemaker import Package, Registry

SOURCE = "aws.sagemaker"
PACKAGE_STATE_CHANGE = "SageMaker Model Package State Change"
API_CALL = "AWS API Call via CloudTrail"


def iso_second(epoch: float) -> str:
    """An epoch time as AWS's sample events give it: ISO 8601, to the second (truncated)."""
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def envelope(
    registry: Registry, detail_type: str, detail: dict[str, Any], resources: list[str]
) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": SOURCE,
        "account": registry.account_id,
        "time": iso_second(registry.clock()),
        "region": registry.region,
        "resources": resources,
        "detail": detail,
    }


def package_detail(package: Package, *, modifier: bool = False) -> dict[str, Any]:
    """The event's detail for a package as it is now (``modifier``: with LastModifiedBy,
    which AWS's sample does not carry)."""
    record = package.described()
    detail: dict[str, Any] = {
        key: record[key]
        for key in (
            "ModelPackageGroupName",
            "ModelPackageVersion",
            "ModelPackageArn",
            "ModelPackageName",
            "ModelPackageDescription",
            "InferenceSpecification",
            "ModelPackageStatus",
            "ModelApprovalStatus",
            "ModelLifeCycle",
            "MetadataProperties",
            "ModelMetrics",
            "ApprovalDescription",
        )
        if key in record
    }
    if package.group is None:
        detail.pop("ModelPackageGroupName", None)
    detail["ModelPackageStatusDetails"] = {"ValidationStatuses": [], "ImageScanStatuses": []}
    detail["CertifyForMarketplace"] = False
    detail["CreationTime"] = iso_second(package.created)
    detail["LastModifiedTime"] = iso_second(package.last_modified)
    if modifier and package.modified_by:
        detail["LastModifiedBy"] = package.modified_by
    return detail


def package_event(registry: Registry, arn: str, *, modifier: bool = False) -> dict[str, Any]:
    """The state change event of the package now."""
    with registry.lock:
        package = registry.packages[arn]
        detail = package_detail(package, modifier=modifier)
    return envelope(registry, PACKAGE_STATE_CHANGE, detail, [arn])


def delete_call(
    registry: Registry,
    operation: str,
    parameters: dict[str, str],
    *,
    error: str | None = None,
    at: float | None = None,
) -> dict[str, Any]:
    """CloudTrail's record of a delete call (DeleteModelPackage, DeleteModelPackageGroup)."""
    when = iso_second(registry.clock() if at is None else at)
    detail: dict[str, Any] = {
        "eventVersion": "1.09",
        "userIdentity": {"type": "AssumedRole", "accountId": registry.account_id},
        "eventTime": when,
        "eventSource": "sagemaker.amazonaws.com",
        "eventName": operation,
        "awsRegion": registry.region,
        "requestParameters": parameters,
        "responseElements": None,
        "eventID": str(uuid.uuid4()),
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": registry.account_id,
        "eventCategory": "Management",
    }
    if error:
        detail["errorCode"] = error
        detail["errorMessage"] = f"{operation} failed"
    event = envelope(registry, API_CALL, detail, [])
    event["time"] = when
    return event


def new_queue(sqs: Any, name: str = "registry-sync-events", **attributes: str) -> str:
    """A queue for the events: SQS's largest messages, 30 s to handle one; `attributes` override."""
    attributes = {"MaximumMessageSize": "1048576", "VisibilityTimeout": "30", **attributes}
    url: str = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    return url


def send(sqs: Any, url: str, *bodies: dict[str, Any] | str) -> None:
    for body in bodies:
        text = body if isinstance(body, str) else json.dumps(body)
        sqs.send_message(QueueUrl=url, MessageBody=text)


def queue_counts(sqs: Any, url: str) -> tuple[int, int]:
    """Messages visible, and in flight."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return (
        int(attributes["ApproximateNumberOfMessages"]),
        int(attributes["ApproximateNumberOfMessagesNotVisible"]),
    )
