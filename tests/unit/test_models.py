from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from syncer.models import InvalidRecord, parse_group, parse_package, parse_timestamp

ARN = "arn:aws:sagemaker:us-east-1:123456789012:model-package/churn/3"


def summary(**fields: object) -> dict[str, object]:
    item: dict[str, object] = {
        "ModelPackageArn": ARN,
        "ModelPackageGroupName": "churn",
        "ModelPackageVersion": 3,
        "CreationTime": 1764193238.123,
        "ModelPackageStatus": "Completed",
        "ModelApprovalStatus": "Approved",
    }
    item.update(fields)
    return {k: v for k, v in item.items() if v is not None}


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        (1764193238.123, datetime(2025, 11, 26, 21, 40, 38, 123000, tzinfo=UTC)),
        (1764193238, datetime(2025, 11, 26, 21, 40, 38, tzinfo=UTC)),
        (1764193238.999, datetime(2025, 11, 26, 21, 40, 38, 999000, tzinfo=UTC)),
        ("2025-11-26T21:40:38.123Z", datetime(2025, 11, 26, 21, 40, 38, 123000, tzinfo=UTC)),
        ("1764193238.001", datetime(2025, 11, 26, 21, 40, 38, 1000, tzinfo=UTC)),
    ],
)
def test_timestamps_keep_their_milliseconds_exactly(wire: object, expected: datetime) -> None:
    assert parse_timestamp(wire) == expected


@pytest.mark.parametrize("wire", [1e20, -1e20, "yesterday", True, None, [1]])
def test_impossible_timestamps_are_invalid_records(wire: object) -> None:
    with pytest.raises(InvalidRecord):
        parse_timestamp(wire)


def test_versioned_summary_maps_to_columns() -> None:
    p = parse_package(
        summary(
            ModelLifeCycle={
                "Stage": "Production",
                "StageStatus": "Approved",
                "StageDescription": "x",
            },
            ModelPackageRegistrationType="Registered",
            ModelPackageDescription="churn v3",
        )
    )
    assert (p.arn, p.account_id, p.region) == (ARN, "123456789012", "us-east-1")
    assert (p.group_name, p.version, p.name) == ("churn", 3, None)
    assert p.creation_time == datetime(2025, 11, 26, 21, 40, 38, 123000, tzinfo=UTC)
    assert (p.life_cycle_stage, p.life_cycle_stage_status, p.life_cycle_stage_description) == (
        "Production",
        "Approved",
        "x",
    )
    assert p.registration_type == "Registered"
    assert json.loads(p.raw)["CreationTime"] == 1764193238.123


def test_unknown_enum_values_and_missing_optional_fields_are_kept() -> None:
    p = parse_package(summary(ModelApprovalStatus="UnderReview", ModelPackageStatus=None))
    assert p.approval_status == "UnderReview"
    assert p.package_status is None
    assert p.life_cycle_stage is None


def test_nul_bytes_are_removed_everywhere_including_raw() -> None:
    p = parse_package(summary(ModelPackageDescription="a\x00b", Extra={"k\x00": ["v\x00"]}))
    assert p.description == "ab"
    assert "\\u0000" not in p.raw and "\x00" not in p.raw


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"ModelPackageArn": None}, "missing ModelPackageArn"),
        ({"CreationTime": None}, "missing CreationTime"),
        ({"ModelPackageArn": "not-an-arn"}, "is not an ARN"),
        ({"ModelPackageArn": "arn:" + "x" * 3000}, "longer than"),
        ({"ModelPackageVersion": 0}, "out of range"),
        ({"ModelPackageVersion": "3"}, "out of range"),
    ],
)
def test_unmirrorable_summaries_say_why(change: dict[str, object], reason: str) -> None:
    item = summary()
    for key, value in change.items():
        if value is None:
            item.pop(key)
        else:
            item[key] = value
    with pytest.raises(InvalidRecord, match=reason):
        parse_package(item)


def test_group_summary() -> None:
    g = parse_group(
        {
            "ModelPackageGroupName": "churn",
            "ModelPackageGroupArn": "arn:aws:sagemaker:us-east-1:123456789012:model-package-group/churn",
            "CreationTime": 1764193238.5,
            "ModelPackageGroupStatus": "Completed",
        }
    )
    assert g.name == "churn" and g.description is None
    assert g.creation_time.microsecond == 500000


def test_a_versioned_summary_without_group_takes_the_listed_group() -> None:
    item = summary(ModelPackageGroupName=None)
    item.pop("ModelPackageGroupName", None)
    assert parse_package(item, "churn").group_name == "churn"
    assert parse_package(summary(), "other").group_name == "churn"
