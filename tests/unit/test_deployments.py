"""Deployments without I/O: what Search records of models and endpoints become, what a
cycle reads, and the lineage and statuses of package details."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from syncer.aws.registry import parse_all
from syncer.deployments.parse import ENDPOINT_ARN, MODEL_ARN, parse_endpoint, parse_model
from syncer.deployments.store import DeploymentsState
from syncer.deployments.sync import FILTER_VALUE_LIMIT, _batches, plan_deployments
from syncer.details.parse import parse_package_details
from syncer.models import EPOCH, MAX_RECORD_BYTES, InvalidRecord, Oversized, Target

PREFIX = "arn:aws:sagemaker:us-east-1:123456789012"
NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
LOOKBACK = timedelta(seconds=300)
MS = timedelta(milliseconds=1)


def dashboard(model: dict[str, object] | None = None, **fields: object) -> dict[str, object]:
    """A Search result of Resource="Model": a ModelDashboardModel."""
    item: dict[str, object] = {
        "ModelName": "churn-v3",
        "ModelArn": f"{PREFIX}:model/churn-v3",
        "CreationTime": 1_780_000_000.5,
        "ExecutionRoleArn": "arn:aws:iam::123456789012:role/Exec",
        "PrimaryContainer": {"ModelPackageName": f"{PREFIX}:model-package/churn/3"},
    }
    item.update(model or {})
    record: dict[str, object] = {"Model": item, "MonitoringSchedules": []}
    record.update(fields)
    return {"Model": record}


def hosted(name: str, modified: float = 1_780_000_100.25) -> dict[str, object]:
    return {
        "EndpointName": name,
        "EndpointArn": f"{PREFIX}:endpoint/{name}",
        "CreationTime": 1_780_000_050.0,
        "LastModifiedTime": modified,
        "EndpointStatus": "InService",
    }


def test_a_model_record_becomes_a_model_its_containers_and_the_endpoints_that_serve_it() -> None:
    model = parse_model(
        dashboard(
            {
                "PrimaryContainer": None,
                "Containers": [
                    {
                        "ModelPackageName": "churn/2",
                        "ContainerHostname": "scorer",
                        "Environment": {"TOKEN": "secret"},
                    },
                    {
                        "Image": "i:1",
                        "ModelDataSource": {"S3DataSource": {"S3Uri": "s3://m/a.tar.gz"}},
                        "Mode": "MultiModel",
                    },
                    "not a container",
                ],
                "InferenceExecutionConfig": {"Mode": "Serial"},
                "EnableNetworkIsolation": True,
                "Tags": [{"Key": "team", "Value": "growth"}],
            },
            Endpoints=[hosted("live"), hosted("shadow", 1_780_000_200.0)],
        )
    )
    assert (model.arn, model.account_id, model.region, model.name) == (
        f"{PREFIX}:model/churn-v3",
        "123456789012",
        "us-east-1",
        "churn-v3",
    )
    assert model.creation_time == datetime.fromtimestamp(1_780_000_000.5, UTC)
    assert (model.inference_execution_mode, model.enable_network_isolation) == ("Serial", True)
    assert json.loads(model.tags or "") == {"team": "growth"}
    first, second = model.containers
    assert (first.position, first.model_package_name, first.hostname, first.image) == (
        0,
        "churn/2",
        "scorer",
        None,
    )
    assert (second.position, second.model_package_name) == (1, None)
    assert (second.image, second.model_data_url, second.mode) == (
        "i:1",
        "s3://m/a.tar.gz",
        "MultiModel",
    )
    assert [(h.endpoint_name, h.last_modified_time) for h in model.endpoints] == [
        ("live", datetime.fromtimestamp(1_780_000_100.25, UTC)),
        ("shadow", datetime.fromtimestamp(1_780_000_200.0, UTC)),
    ]
    # Environment maps may hold credentials: not in the stored record.
    assert "secret" not in model.record and "Environment" not in model.record
    assert json.loads(model.record)["Endpoints"][0]["EndpointName"] == "live"


def test_a_model_from_no_package_and_served_nowhere_is_kept() -> None:
    model = parse_model(dashboard({"PrimaryContainer": {"Image": "i:2", "ModelDataUrl": "s3://x"}}))
    [container] = model.containers
    assert (container.model_package_name, container.image, container.model_data_url) == (
        None,
        "i:2",
        "s3://x",
    )
    assert model.endpoints == [] and model.tags is None


@pytest.mark.parametrize(
    ("result", "reason"),
    [
        ({"Endpoint": {}}, "no Model object"),
        ({"Model": {"Endpoints": []}}, "no Model object"),
        (dashboard({"ModelArn": None}), "missing ModelArn"),
        (dashboard({"ModelArn": "not-an-arn"}), "not an ARN"),
        (dashboard({"ModelArn": f"{PREFIX}:model/" + "x" * 1100}), "longer than"),
        (dashboard({"CreationTime": None}), "missing CreationTime"),
        (dashboard({"ModelName": ""}), "missing ModelName"),
        # One endpoint that cannot be named: storing the others would end its period.
        (dashboard(Endpoints=[hosted("live"), {"EndpointName": "x"}]), "missing EndpointArn"),
        (dashboard(Endpoints="live"), "not a list"),
        (dashboard({"PrimaryContainer": {"ModelPackageName": "p" * 2000}}), "longer than"),
    ],
)
def test_a_model_record_that_cannot_be_stored_is_refused_with_a_reason(
    result: dict[str, object], reason: str
) -> None:
    with pytest.raises(InvalidRecord, match=reason):
        parse_model(result)


def test_the_arn_of_any_record_is_found_so_that_no_sweep_marks_it_gone() -> None:
    target = Target("123456789012", "us-east-1")
    models = parse_all(
        [
            dashboard({"ModelArn": f"{PREFIX}:model/nul\x00-v1"}),  # stored without the NUL
            dashboard({"ModelArn": f"{PREFIX}:model/late", "CreationTime": None}),
            {"Model": {"Model": {}}},
            "junk",
        ],
        parse_model,
        MODEL_ARN,
        target,
    )
    assert models.skipped == 3
    assert models.arns() == [f"{PREFIX}:model/nul-v1", f"{PREFIX}:model/late"]
    endpoints = parse_all(
        [{"Endpoint": {"EndpointArn": f"{PREFIX}:endpoint/e"}}, {"Endpoint": None}],
        parse_endpoint,
        ENDPOINT_ARN,
        target,
    )
    assert (endpoints.skipped, endpoints.arns()) == (2, [f"{PREFIX}:endpoint/e"])


def test_an_endpoint_record_becomes_an_endpoint() -> None:
    endpoint = parse_endpoint(
        {
            "Endpoint": {
                "EndpointName": "live",
                "EndpointArn": f"{PREFIX}:endpoint/live",
                "EndpointConfigName": "live-2",
                "EndpointStatus": "Failed",
                "FailureReason": "no capacity",
                "CreationTime": 1_780_000_050.0,
                "LastModifiedTime": 1_780_000_100.25,
                "ProductionVariants": [{"VariantName": "AllTraffic"}],
                "Tags": [],
            }
        }
    )
    assert (endpoint.name, endpoint.config_name, endpoint.status, endpoint.failure_reason) == (
        "live",
        "live-2",
        "Failed",
        "no capacity",
    )
    assert endpoint.last_modified_time == datetime.fromtimestamp(1_780_000_100.25, UTC)
    assert endpoint.tags == "{}"
    with pytest.raises(InvalidRecord, match="missing EndpointName"):
        parse_endpoint({"Endpoint": {"EndpointArn": f"{PREFIX}:endpoint/x", "CreationTime": 1}})


def test_model_and_endpoint_records_over_the_size_cap_are_refused_as_every_record_is() -> None:
    huge = "x" * (MAX_RECORD_BYTES + 1)
    with pytest.raises(Oversized, match="over the 262144-byte limit"):
        parse_model(dashboard({"ExecutionRoleArn": huge}))
    endpoint = {"EndpointArn": f"{PREFIX}:endpoint/e", "EndpointName": "e", "CreationTime": 1}
    with pytest.raises(Oversized, match="over the 262144-byte limit"):
        parse_endpoint({"Endpoint": {**endpoint, "FailureReason": huge}})
    assert parse_endpoint({"Endpoint": endpoint}).name == "e"


def test_plan_reads_everything_first_and_at_each_reconcile_else_the_changed_endpoints() -> None:
    assert plan_deployments(None, full_cycle=False, lookback=LOOKBACK).action == "full"
    never = DeploymentsState(endpoints_cursor=NOW)
    assert plan_deployments(never, full_cycle=False, lookback=LOOKBACK).reason == "first read"
    state = DeploymentsState(endpoints_cursor=NOW, last_full_read_at=NOW)
    reconcile = plan_deployments(state, full_cycle=True, lookback=LOOKBACK)
    assert (reconcile.action, reconcile.reason) == ("full", "reconcile")
    changes = plan_deployments(state, full_cycle=False, lookback=LOOKBACK)
    assert (changes.action, changes.modified_after) == ("changes", NOW - LOOKBACK - MS)
    # No endpoint seen yet: every endpoint modified since the epoch.
    empty = DeploymentsState(last_full_read_at=NOW)
    assert plan_deployments(empty, full_cycle=False, lookback=LOOKBACK).modified_after == (
        EPOCH - LOOKBACK - MS
    )


def test_endpoint_names_go_in_comma_lists_that_fit_a_filter_value() -> None:
    names = [f"endpoint-{i:04d}-" + "x" * 40 for i in range(60)]
    batches = list(_batches(names))
    assert [n for batch in batches for n in batch] == names
    assert all(len(",".join(batch)) <= FILTER_VALUE_LIMIT for batch in batches)
    assert len(batches) == 4  # 54 characters a name: 18 names a list
    assert list(_batches([])) == []


def test_package_details_keep_lineage_statuses_and_additional_containers() -> None:
    details = parse_package_details(
        {
            "ModelPackage": {
                "ModelPackageArn": f"{PREFIX}:model-package/churn/3",
                "ModelPackageGroupName": "churn",
                "ModelPackageVersion": 3,
                "CreationTime": 1_780_000_000.0,
                "MetadataProperties": {
                    "GeneratedBy": f"{PREFIX}:pipeline/train/execution/abc123",
                    "ProjectId": "p-1",
                    "CommitId": "9f2c1ab",
                    "Repository": "https://git.example.com/churn",
                },
                "ModelPackageStatusDetails": {
                    "ValidationStatuses": [
                        {"Name": "churn-validation", "Status": "Failed", "FailureReason": "x"}
                    ],
                    "ImageScanStatuses": [{"Status": "Completed"}],
                },
                "InferenceSpecification": {"Containers": [{"Image": "main:1"}]},
                "AdditionalInferenceSpecifications": [
                    {"Name": "gpu", "Containers": [{"Image": "gpu:1", "ModelDataUrl": "s3://g"}]},
                    {"Name": "cpu", "Containers": [{"Image": "cpu:1"}, "junk"]},
                    "junk",
                ],
            }
        }
    )
    assert (details.generated_by, details.project_id, details.commit_id, details.repository) == (
        f"{PREFIX}:pipeline/train/execution/abc123",
        "p-1",
        "9f2c1ab",
        "https://git.example.com/churn",
    )
    assert json.loads(details.validation_statuses or "") == {"churn-validation": "Failed"}
    assert details.image_scan_statuses is None  # no status is named
    assert details.image_uris == ["main:1"]
    assert details.additional_image_uris == ["gpu:1", "cpu:1"]
    assert details.additional_model_data_urls == ["s3://g"]
