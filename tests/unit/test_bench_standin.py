"""The benchmark's stand-in answers from indexes; its answers must be the test server's."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from bench.server import BenchStandIn, Shape, build_registry
from standin.sagemaker import Registry, StandIn


@pytest.fixture(scope="module")
def registry() -> Registry:
    registry = build_registry(Shape(groups=12, versions=30, unversioned=7), time.time() - 3600)
    registry.clock = time.time  # the seeded clock has no ticks left for updates
    for arn in sorted(registry.packages)[::17]:
        registry.update_package(arn, approval="Approved")  # LastModifiedTime moves
    return registry


def _all_pages(server: StandIn, operation: str, body: dict[str, Any]) -> list[str]:
    """Every page of a paginated call, as JSON text (so that the two compare exactly)."""
    pages, token = [], None
    while True:
        request = dict(body, NextToken=token) if token else dict(body)
        response = getattr(server, f"op_{operation}")(request)
        pages.append(json.dumps(response, sort_keys=True, default=str))
        token = response.get("NextToken")
        if not token:
            return pages


def _a_middle_modification_time(registry: Registry) -> float:
    times = sorted(p.last_modified for p in registry.packages.values())
    return times[len(times) // 2]


def test_listings_are_the_test_servers(registry: Registry) -> None:
    bench, test = BenchStandIn(registry), StandIn(registry)
    scopes: list[dict[str, Any]] = [{"ModelPackageType": "Unversioned"}]
    scopes += [{"ModelPackageGroupName": name} for name in sorted(registry.groups)[:4]]
    for scope in scopes:
        for extra in ({}, {"SortOrder": "Descending"}, {"CreationTimeAfter": time.time() - 1800}):
            body = dict(scope, SortBy="CreationTime", MaxResults=7, **extra)
            assert _all_pages(bench, "ListModelPackages", body) == _all_pages(
                test, "ListModelPackages", body
            ), body


@pytest.mark.parametrize("order", ["Ascending", "Descending"])
def test_the_change_feeds_searches_are_the_test_servers(registry: Registry, order: str) -> None:
    bench, test = BenchStandIn(registry), StandIn(registry)
    middle = _a_middle_modification_time(registry)
    since = datetime.fromtimestamp(middle, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    bodies: list[dict[str, Any]] = [{"MaxResults": 1}, {"MaxResults": 50}]
    bodies += [
        {"SearchExpression": {"Filters": [f]}, "MaxResults": 9}
        for f in (
            {"Name": "LastModifiedTime", "Operator": "GreaterThan", "Value": since},
            {"Name": "LastModifiedTime", "Operator": "GreaterThan", "Value": middle},
            # Not served from the index: the test server's code answers both.
            {"Name": "ModelApprovalStatus", "Operator": "Equals", "Value": "Approved"},
        )
    ]
    for body in bodies:
        request = dict(body, Resource="ModelPackage", SortBy="LastModifiedTime", SortOrder=order)
        pages = _all_pages(bench, "Search", request)
        assert pages == _all_pages(test, "Search", request), request
        assert len(pages) > 1, request  # paging was exercised
