"""What the service asks SageMaker: paginated listings and Search, page by page.

``RegistrySource`` wraps one target's client (syncer/aws/clients.py). Pages
are yielded as they arrive, so memory is one page; every listing is bounded
(a repeated token, too many empty pages or too many pages end it with an
error), and errors become ``SourceError`` with one readable line and the
API's error code.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar

import aiohttp
from botocore.exceptions import BotoCoreError, ClientError

from syncer.aws.limits import TargetLimits
from syncer.errors import ListingError, SourceError
from syncer.logging import get_logger
from syncer.models import (
    InvalidRecord,
    PackageChange,
    PackageGroup,
    PackageSummary,
    Target,
    clean_text,
    parse_group,
    parse_package,
    parse_package_change,
)

log = get_logger(__name__)
T = TypeVar("T")

SERVICE = "sagemaker"
# The operations this code calls; deploy/iam-policy.json must grant exactly these.
# DescribeModelPackage orders two events of one second (syncer/events/).
OPERATIONS = ("ListModelPackageGroups", "ListModelPackages", "Search", "DescribeModelPackage")
# The change feed: Search filters and sorts packages on LastModifiedTime, which
# summaries lack, and returns their approval, status and life-cycle stage.
SEARCH_PACKAGES: dict[str, Any] = {"Resource": "ModelPackage", "SortBy": "LastModifiedTime"}
# A Search filter's timestamp value, as documented (in UTC).
SEARCH_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"


class Owned(Protocol):
    """A parsed record: it names its ARN."""

    @property
    def arn(self) -> str: ...


R = TypeVar("R", bound=Owned)


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    # ARNs of listed items that could not be parsed: they exist, so a sweep must
    # not mark them deleted.
    skipped_arns: list[str]
    skipped: int
    # No NextToken: the listing ends with this page.
    last: bool = True
    # The items as received, where a caller reads more of them (the change
    # feed's records also carry governance details).
    received: list[dict[str, Any]] = field(default_factory=list)

    def arns(self: Page[R]) -> list[str]:
        """Every item's ARN, parsed or skipped: what a sweep must leave alone."""
        return [item.arn for item in self.items] + self.skipped_arns


class RegistrySource:
    """The listings of one target. Pages are yielded as they arrive, so memory is one page."""

    def __init__(
        self, client: Any, target: Target, page_size: int, limits: TargetLimits | None = None
    ) -> None:
        self._client = client
        self.target = target
        self._page_size = page_size
        self.limits = limits

    async def list_groups(
        self, name_contains: str | None, created_after: datetime | None = None
    ) -> AsyncIterator[Page[PackageGroup]]:
        params: dict[str, Any] = {"SortBy": "CreationTime", "SortOrder": "Ascending"}
        if name_contains:
            params["NameContains"] = name_contains
        if created_after is not None:  # an incremental cycle: only groups new since then
            params["CreationTimeAfter"] = created_after
        async for items, last in self._pages(
            "list_model_package_groups", "ModelPackageGroupSummaryList", params
        ):
            yield parse_all(items, parse_group, GROUP_ARN, self.target, last)

    async def list_packages(
        self, group_name: str | None, created_after: datetime | None
    ) -> AsyncIterator[Page[PackageSummary]]:
        """A group's versions, or (group_name=None) the target's unversioned packages.

        Sorted by creation time, ascending, so that a page's last row bounds what
        has been stored so far.
        """
        params: dict[str, Any] = {"SortBy": "CreationTime", "SortOrder": "Ascending"}
        # Without a type the API lists unversioned packages only (its documented
        # default), so the type is sent with a group name too.
        if group_name is None:
            params["ModelPackageType"] = "Unversioned"
        else:
            params["ModelPackageGroupName"] = group_name
            params["ModelPackageType"] = "Versioned"
        if created_after is not None:
            params["CreationTimeAfter"] = created_after

        def parse(item: dict[str, Any]) -> PackageSummary:
            return parse_package(item, group_name)

        async for items, last in self._pages(
            "list_model_packages", "ModelPackageSummaryList", params
        ):
            yield parse_all(items, parse, PACKAGE_ARN, self.target, last)

    async def list_account_packages(
        self,
        created_after: datetime | None,
        created_before: datetime | None = None,
        *,
        unversioned: bool,
    ) -> AsyncIterator[Page[PackageSummary]]:
        """Every package of the target created within a window (None: unbounded), of
        every group (and the unversioned ones too with ``unversioned``), oldest first:
        ListModelPackages with a type and no group name."""
        params: dict[str, Any] = {
            "SortBy": "CreationTime",
            "SortOrder": "Ascending",
            "ModelPackageType": "Both" if unversioned else "Versioned",
        }
        if created_after is not None:
            params["CreationTimeAfter"] = created_after
        if created_before is not None:
            params["CreationTimeBefore"] = created_before
        async for items, last in self._pages(
            "list_model_packages", "ModelPackageSummaryList", params
        ):
            yield parse_all(items, parse_package, PACKAGE_ARN, self.target, last)

    async def latest_change(self) -> datetime | None:
        """When the target's most recently modified package changed (None: it has no package)."""
        request = dict(SEARCH_PACKAGES, SortOrder="Descending", MaxResults=1)
        response = await _translate("search", self._client.search(**request))
        # The newest of what came back, should a server ignore the sort or the limit.
        results = response.get("Results") or []
        page = parse_all(results, parse_package_change, SEARCHED_PACKAGE_ARN, self.target)
        return max((c.last_modified for c in page.items), default=None)

    async def describe_package(self, arn: str) -> dict[str, Any]:
        """The package's whole record now (DescribeModelPackage): its LastModifiedTime
        to the millisecond, as Search gives it."""
        return await _translate(
            "describe_model_package", self._client.describe_model_package(ModelPackageName=arn)
        )

    async def changed_packages(
        self, modified_after: datetime
    ) -> AsyncIterator[Page[PackageChange]]:
        """Packages of the target (all groups, and unversioned) modified after a moment.

        Sorted by LastModifiedTime, ascending, so that a page's last row bounds
        what has been applied so far. The bound is sent as the botocore model and
        the API reference document a timestamp filter value, ``YYYY-mm-dd'T'HH:MM:SS``
        (UTC, no zone designator), so in whole seconds, rounded down: a second
        more of overlap.
        """
        after = whole_seconds(modified_after)
        params = dict(
            SEARCH_PACKAGES,
            SortOrder="Ascending",
            SearchExpression={
                "Filters": [{"Name": "LastModifiedTime", "Operator": "GreaterThan", "Value": after}]
            },
        )
        async for items, last in self._pages("search", "Results", params, required=False):
            page = parse_all(items, parse_package_change, SEARCHED_PACKAGE_ARN, self.target, last)
            yield replace(page, received=items)

    async def search_records(
        self, resource: str, start: datetime | None = None, end: datetime | None = None
    ) -> AsyncIterator[tuple[list[dict[str, Any]], bool]]:
        """Search results of a resource (ModelPackage, ModelPackageGroup) as received,
        by CreationTime ascending, created at or after ``start`` and before ``end``
        (None: unbounded; sent in whole seconds, widened to them); with whether each
        page is the last."""
        params: dict[str, Any] = {
            "Resource": resource,
            "SortBy": "CreationTime",
            "SortOrder": "Ascending",
        }
        filters = []
        if start is not None:
            filters.append(_creation_filter("GreaterThanOrEqualTo", start))
        if end is not None:
            after_end = end + (timedelta(seconds=1) if end.microsecond else timedelta(0))
            filters.append(_creation_filter("LessThan", after_end))
        if filters:
            params["SearchExpression"] = {"Filters": filters}
        async for items, last in self._pages("search", "Results", params, required=False):
            yield items, last

    async def search_pages(
        self, request: dict[str, Any]
    ) -> AsyncIterator[tuple[list[dict[str, Any]], bool]]:
        """The results of any Search ``request`` (Resource, SearchExpression, SortBy,
        SortOrder) as received, page by page, with whether each page is the last."""
        async for items, last in self._pages("search", "Results", request, required=False):
            yield items, last

    # A listing that never ends would hold its scope (and the cycle) forever
    # while /healthz stays green: an endpoint can send a new token with every
    # page. Real listings end far sooner: empty pages come a few at a time,
    # and 100,000 pages are 10 million versions at the largest page size.
    max_empty_pages = 1_000
    max_pages = 100_000

    async def _pages(
        self, method: str, key: str, params: dict[str, Any], *, required: bool = True
    ) -> AsyncIterator[tuple[list[dict[str, Any]], bool]]:
        """Each page's items, and whether it is the last (see ``follow_tokens``)."""
        call = getattr(self._client, method)

        def fetch(token: str | None) -> Awaitable[dict[str, Any]]:
            request = dict(params, MaxResults=self._page_size)
            if token:
                request["NextToken"] = token
            return _translate(method, call(**request))

        async for page in follow_tokens(
            method,
            fetch,
            key,
            required=required,
            max_pages=self.max_pages,
            max_empty_pages=self.max_empty_pages,
        ):
            yield page


async def follow_tokens(
    method: str,
    fetch: Callable[[str | None], Awaitable[dict[str, Any]]],
    key: str,
    *,
    required: bool = True,
    max_pages: int,
    max_empty_pages: int,
) -> AsyncIterator[tuple[list[dict[str, Any]], bool]]:
    """Each page's items (``response[key]``), and whether it is the last, of any
    paginated AWS call: ``fetch(token)`` makes one call.

    Follow NextToken to its end, not to the first empty page: list calls
    may return empty pages that still carry a token. A token seen before,
    too many empty pages in a row or too many pages end the listing with
    an error: the caller fails, and says why.
    """
    seen_tokens: set[str] = set()
    token: str | None = None
    pages = empty_run = 0
    while True:
        if pages >= max_pages:
            raise ListingError(
                f"{method}: more than {max_pages} pages, each with a new NextToken; "
                "stopped the listing"
            )
        if empty_run >= max_empty_pages:
            raise ListingError(
                f"{method}: {empty_run} empty pages in a row, each with a new NextToken; "
                "stopped the listing"
            )
        response = await fetch(token)
        items = response.get(key)
        if items is None and not required:  # Search may leave out an empty result list
            items = []
        if not isinstance(items, list):
            raise ListingError(f"{method}: response has no {key} list")
        token = response.get("NextToken")
        pages += 1
        empty_run = 0 if items else empty_run + 1
        yield items, not token
        if not token:
            return
        if token in seen_tokens:
            raise ListingError(f"{method}: NextToken repeated after {len(seen_tokens)} pages")
        seen_tokens.add(token)


def whole_seconds(moment: datetime) -> str:
    """A Search filter's timestamp value, as documented: whole seconds (rounded down), UTC."""
    return moment.astimezone(UTC).strftime(SEARCH_TIME_FORMAT)


def _creation_filter(operator: str, moment: datetime) -> dict[str, str]:
    return {"Name": "CreationTime", "Operator": operator, "Value": whole_seconds(moment)}


# Skipped items are reported once per page: a count, and the first few with their reasons.
SKIPPED_EXAMPLES = 5

# Where an item's ARN is: in a listing's summary, and in a Search result.
GROUP_ARN = ("ModelPackageGroupArn",)
PACKAGE_ARN = ("ModelPackageArn",)
SEARCHED_GROUP_ARN = ("ModelPackageGroup", "ModelPackageGroupArn")
SEARCHED_PACKAGE_ARN = ("ModelPackage", "ModelPackageArn")


def parse_all(
    items: Iterable[Any],
    parse: Callable[[dict[str, Any]], R],
    key: tuple[str, ...],
    target: Target,
    last: bool = True,
) -> Page[R]:
    """Each item parsed, or skipped with its reason: one log line per page names the
    first few. An item whose ARN is of another account or region than the target's
    that returned it is skipped too: a listing, the change feed and the details store
    what they read under the target they read it from, and nothing else. ``key`` is
    the path to an item's ARN, by which a skipped item is still named (and counted
    as seen, so that no sweep marks it gone)."""
    parsed: list[R] = []
    skipped_arns: list[str] = []
    examples: list[tuple[str | None, str]] = []
    skipped = 0
    for item in items:
        try:
            if not isinstance(item, dict):
                raise InvalidRecord(f"item is a {type(item).__name__}, not an object")
            record = parse(item)
            _check_owner(record.arn, target)
            parsed.append(record)
        except InvalidRecord as exc:
            skipped += 1
            arn = _at(item, key)
            if isinstance(arn, str) and arn:
                skipped_arns.append(clean_text(arn))
            if len(examples) < SKIPPED_EXAMPLES:
                examples.append((str(arn)[:200] if arn else None, str(exc)))
    if skipped:
        log.warning(
            "source.items_skipped",
            target=str(target),
            count=skipped,
            sample_arn=examples[0][0],
            reason=examples[0][1],
            examples=examples,
        )
    return Page(parsed, skipped_arns, skipped, last)


def _check_owner(arn: str, target: Target) -> None:
    """Raise InvalidRecord unless the ARN names the target's account and region."""
    parts = arn.split(":", 5)
    region, account = (parts[3], parts[4]) if len(parts) == 6 else ("", "")
    if (account, region) != (target.account_id, target.region):
        raise InvalidRecord(
            f"of account {account[:20]!r} in region {region[:30]!r}, not of the target "
            f"{target} that returned it"
        )


def _at(item: Any, path: tuple[str, ...]) -> Any:
    """The value at a path of keys through nested objects (None where one is missing)."""
    for key in path:
        item = item.get(key) if isinstance(item, dict) else None
    return item


async def _translate(method: str, call: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    """Botocore and transport errors become SourceError with one readable line."""
    try:
        return await call
    except ClientError as exc:
        error = exc.response.get("Error", {})
        # An assumed role's credentials are fetched on first use, inside the call.
        if exc.operation_name == "AssumeRole":
            method = f"{method}: sts:AssumeRole"
        code = error.get("Code")
        raise SourceError(
            f"{method}: {code or 'Error'}: {error.get('Message', '')}".rstrip(": "),
            code=str(code) if code else None,
        ) from exc
    except (BotoCoreError, aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise SourceError(f"{method}: {type(exc).__name__}: {exc}") from exc
