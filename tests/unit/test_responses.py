"""The listings' responses are taken as sent; every other response as botocore parses it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import botocore.session
import pytest
from aiobotocore.parsers import AioJSONParser
from botocore.model import Shape

from syncer.aws.responses import VERBATIM_OUTPUTS, ListingParser

SAGEMAKER = botocore.session.get_session().get_service_model("sagemaker")
LISTINGS = ("ListModelPackages", "ListModelPackageGroups")


def _output(operation: str) -> Shape:
    shape = SAGEMAKER.operation_model(operation).output_shape
    assert shape is not None
    return shape


def _tree(
    shape: Shape, path: str = "", seen: frozenset[str] = frozenset()
) -> Iterator[tuple[str, Shape]]:
    """Every shape under ``shape``, with its path (shapes may recur)."""
    yield path or shape.name, shape
    if shape.name in seen:
        return
    seen = seen | {shape.name}
    children: dict[str, Shape] = {}
    if shape.type_name == "structure":
        children = dict(shape.members)
    elif shape.type_name == "list":
        children = {"[]": shape.member}
    elif shape.type_name == "map":
        children = {"{key}": shape.key, "{value}": shape.value}
    for name, child in children.items():
        yield from _tree(child, f"{path or shape.name}.{name}", seen)


def test_the_verbatim_outputs_are_the_listings_and_search() -> None:
    assert {_output(operation).name for operation in (*LISTINGS, "Search")} == VERBATIM_OUTPUTS


def _searched(resource: str) -> Shape:
    """The record Search returns for a resource (the only ones this code searches)."""
    result = _output("Search").members["Results"].member
    return result.members[resource]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "output",
    [
        *[_output(operation) for operation in LISTINGS],
        _searched("ModelPackage"),
        _searched("ModelPackageGroup"),
        _searched("Model"),
        _searched("Endpoint"),
    ],
    ids=[
        *LISTINGS,
        "Search.ModelPackage",
        "Search.ModelPackageGroup",
        "Search.Model",
        "Search.Endpoint",
    ],
)
def test_botocore_would_change_nothing_in_a_listing_but_drop_keys_and_nulls(
    output: Shape,
) -> None:
    """No blob to decode, no member sent under another name, no union or document:
    were botocore's model for these outputs to gain one, the walk would be needed."""
    for path, shape in _tree(output):
        assert shape.type_name != "blob", path
        assert not shape.serialization.get("name"), path
        assert not getattr(shape, "is_document_type", False), path
        assert not getattr(shape, "is_tagged_union", False), path
        assert not shape.serialization.get("eventstream"), path
        if shape.type_name == "structure":
            for name, member in shape.members.items():
                assert member.serialization.get("name", name) == name, f"{path}.{name}"


def _keep(value: Any) -> Any:
    return value


SUMMARY = {
    "ModelPackageGroupName": "g",
    "ModelPackageVersion": 3,
    "ModelPackageArn": "arn:aws:sagemaker:us-east-1:123456789012:model-package/g/3",
    "CreationTime": 1700000000.125,
    "ModelPackageStatus": "Completed",
    "ModelApprovalStatus": "Approved",
    "ModelLifeCycle": {"Stage": "Production", "StageStatus": "Approved"},
}


async def _parse(parser: Any, operation: str, body: bytes, status: int = 200) -> Any:
    response = {"status_code": status, "headers": {"x-amzn-requestid": "r"}, "body": body}
    return await parser.parse(response, _output(operation))


async def _outcome(parser: Any, operation: str, body: bytes, status: int) -> Any:
    """What parsing gives, or the type of what it raises."""
    try:
        return await _parse(parser, operation, body, status)
    except Exception as exc:
        return type(exc)


async def _both(operation: str, body: Any, status: int = 200) -> tuple[Any, Any]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    ours = await _outcome(ListingParser(timestamp_parser=_keep), operation, raw, status)
    botocores = await _outcome(AioJSONParser(timestamp_parser=_keep), operation, raw, status)
    return ours, botocores


async def test_a_listing_is_what_botocore_makes_of_it_plus_what_its_model_lacks() -> None:
    known = {"ModelPackageSummaryList": [SUMMARY, SUMMARY], "NextToken": "t"}
    ours, botocores = await _both("ListModelPackages", known)
    assert ours == botocores
    assert ours["ModelPackageSummaryList"] == [SUMMARY, SUMMARY]

    unknown = dict(SUMMARY, FieldAddedLater={"Nested": [1]}, ModelPackageDescription=None)
    ours, botocores = await _both("ListModelPackages", {"ModelPackageSummaryList": [unknown]})
    assert ours["ModelPackageSummaryList"] == [unknown]
    assert botocores["ModelPackageSummaryList"] == [SUMMARY]


@pytest.mark.parametrize(
    ("operation", "body", "status"),
    [
        ("ListModelPackages", {"__type": "ThrottlingException", "message": "Rate exceeded"}, 400),
        ("ListModelPackages", {"__type": "InternalFailure", "message": "injected"}, 500),
        ("ListModelPackages", b'{"ModelPackageSummaryList": [{"ModelPack', 200),  # cut short
        ("ListModelPackages", b"[1, 2]", 200),  # JSON, but not an object: both raise
        ("ListModelPackages", b"", 200),
        ("Search", {"Results": [{"ModelPackage": dict(SUMMARY, LastModifiedTime=1.5)}]}, 200),
    ],
)
async def test_everything_else_is_parsed_by_botocore(
    operation: str, body: Any, status: int
) -> None:
    ours, botocores = await _both(operation, body, status)
    assert ours == botocores
