"""Governance details without I/O: what a Search record becomes, and what a cycle reads."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from syncer.details.parse import parse_group_details, parse_package_details
from syncer.details.store import DetailsState
from syncer.details.sync import details_budget, plan_details
from syncer.models import InvalidRecord, in_scope, parse_package_change

ARN = "arn:aws:sagemaker:us-east-1:123456789012:model-package/churn/3"
NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
MS = timedelta(milliseconds=1)


def record(**fields: object) -> dict[str, object]:
    item: dict[str, object] = {
        "ModelPackageArn": ARN,
        "ModelPackageGroupName": "churn",
        "ModelPackageVersion": 3,
        "CreationTime": 1_780_000_000.125,
    }
    item.update(fields)
    return {"ModelPackage": item}


def test_a_whole_record_becomes_typed_details_without_card_content_or_environments() -> None:
    details = parse_package_details(
        record(
            CreatedBy={
                "UserProfileName": "ana",
                "IamIdentity": {"Arn": "arn:aws:sts::1:assumed-role/R/ana", "PrincipalId": "X"},
            },
            LastModifiedBy={"IamIdentity": {"Arn": "arn:aws:sts::1:assumed-role/R/maria"}},
            LastModifiedTime=1_780_000_100.5,
            ApprovalDescription="ok\x00",
            Tags=[{"Key": "team", "Value": "risk"}, {"Key": "x"}, "junk"],
            CustomerMetadataProperties={"git_commit": "abc"},
            InferenceSpecification={
                "Containers": [
                    {"Image": "i:1", "ModelDataUrl": "s3://a", "Environment": {"KEY": "secret"}},
                    {"Image": "i:2", "ModelDataSource": {"S3DataSource": {"S3Uri": "s3://b"}}},
                    "not a container",
                ]
            },
            ModelMetrics={"Bias": {"Report": {"S3Uri": "s3://m/bias"}}},
            DriftCheckBaselines={},
            ModelCard={"ModelCardStatus": "Approved", "ModelCardContent": '{"kms": 1}'},
        )
    )
    assert (details.created_by_arn, details.created_by_user_profile) == (
        "arn:aws:sts::1:assumed-role/R/ana",
        "ana",
    )
    assert (details.last_modified_by_arn, details.last_modified_by_user_profile) == (
        "arn:aws:sts::1:assumed-role/R/maria",
        None,
    )
    assert details.last_modified_time == datetime(2026, 5, 28, 20, 28, 20, 500000, tzinfo=UTC)
    assert details.approval_description == "ok"  # NUL dropped, as in summaries
    assert json.loads(details.tags or "") == {"team": "risk", "x": ""}
    assert details.image_uris == ["i:1", "i:2"]
    assert details.model_data_urls == ["s3://a", "s3://b"]
    assert (details.has_model_metrics, details.model_metrics_s3_uris) == (True, ["s3://m/bias"])
    assert (details.has_drift_check_baselines, details.drift_check_baselines_s3_uris) == (False, [])
    assert details.model_card_status == "Approved"
    assert "secret" not in details.record and "kms" not in details.record
    assert details.group_name == "churn"


def test_missing_fields_are_null_or_empty_and_a_record_without_arn_is_refused() -> None:
    details = parse_package_details(record())
    assert details.tags is None and details.customer_metadata is None
    assert details.image_uris == [] and details.last_modified_time is None
    with pytest.raises(InvalidRecord):
        parse_package_details({"ModelPackage": {"CreationTime": 1}})
    with pytest.raises(InvalidRecord):
        parse_package_details({"TrainingJob": {}})


def test_group_details_and_the_mirrors_scope() -> None:
    group = parse_group_details(
        {
            "ModelPackageGroup": {
                "ModelPackageGroupArn": "arn:aws:sagemaker:us-east-1:1:model-package-group/churn",
                "CreatedBy": {"UserProfileName": "ana"},
                "Tags": [],
            }
        }
    )
    assert (group.created_by_user_profile, group.tags) == ("ana", "{}")
    versioned = parse_package_details(record())
    unversioned = parse_package_details(
        {"ModelPackage": {"ModelPackageArn": ARN, "ModelPackageName": "u", "CreationTime": 1}}
    )
    versioned_group, unversioned_group = versioned.group_name, unversioned.group_name
    assert in_scope(versioned_group, None, True) and in_scope(versioned_group, "chu", True)
    assert not in_scope(versioned_group, "fraud", True)
    assert in_scope(unversioned_group, None, True)
    assert not in_scope(unversioned_group, None, False) and in_scope(unversioned_group, "chu", True)


def test_a_feed_change_carries_who_and_why() -> None:
    change = parse_package_change(
        record(
            LastModifiedTime=1_780_000_100,
            ModelApprovalStatus="Approved",
            ApprovalDescription="fine",
            LastModifiedBy={"UserProfileName": "maria"},
        )
    )
    assert (change.modified_by_user_profile, change.approval_description) == ("maria", "fine")


# ---------------------------------------------------------------- the plan
def done(**fields: object) -> DetailsState:
    values: dict[str, object] = {"looked_through": NOW - timedelta(hours=1)}
    values.update(fields)
    return DetailsState(**values)  # type: ignore[arg-type]


def test_plan_backfills_first_then_resumes_a_cut_pass_at_its_cursor() -> None:
    first = plan_details(None, full_cycle=False, packages_missing_since=None, groups_missing=False)
    assert (first.action, first.start, first.groups) == ("full", None, True)
    cut = DetailsState(pass_started_at=NOW, pass_cursor=NOW - timedelta(days=3), pass_full=True)
    resume = plan_details(cut, full_cycle=True, packages_missing_since=None, groups_missing=True)
    assert (resume.action, resume.start, resume.groups) == (
        "resume",
        NOW - timedelta(days=3),
        False,
    )
    unstarted = DetailsState(pass_started_at=NOW, pass_from=NOW - timedelta(days=1))
    assert plan_details(
        unstarted, full_cycle=False, packages_missing_since=None, groups_missing=False
    ).start == NOW - timedelta(days=1)


def test_plan_rereads_at_a_reconcile_and_otherwise_reads_only_what_is_missing() -> None:
    state = done()
    reread = plan_details(state, full_cycle=True, packages_missing_since=None, groups_missing=False)
    assert (reread.action, reread.start, reread.groups) == ("full", None, True)
    recent = plan_details(state, full_cycle=False, packages_missing_since=NOW, groups_missing=True)
    assert (recent.action, recent.start, recent.groups) == ("recent", NOW, True)
    groups = plan_details(state, full_cycle=False, packages_missing_since=None, groups_missing=True)
    assert (groups.action, groups.groups) == ("groups", True)
    idle = plan_details(state, full_cycle=False, packages_missing_since=None, groups_missing=False)
    assert idle.action == "none"


def test_the_budget_is_a_tenth_of_a_cycles_calls_and_at_least_one_page() -> None:
    assert details_budget(10, 300) == 300
    assert details_budget(10, 1) == 1
    assert details_budget(0.1, 1) == 1
