"""SageMaker, through aiobotocore: clients, paginated listings, retries and rate limits.

One client per target (account x region), shared by every task of that target.
Every HTTP attempt, retries included, first waits for its turn at the
target's limits (syncer/aws/limits.py): ``SYNCER_MAX_REQUESTS_PER_SECOND`` is the
ceiling of each target, and within it an adaptive rate per operation class
(list calls, Search) that backs off on throttling and finds the quota the
account has left. botocore's ``standard`` retry mode (``adaptive`` if
AWS_RETRY_MODE says so) retries throttling and 5xx with jittered exponential
backoff and a bounded number of attempts.
"""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import aiohttp
from aiobotocore.config import AioConfig
from aiobotocore.credentials import (
    AioAssumeRoleCredentialFetcher,
    AioDeferredRefreshableCredentials,
)
from aiobotocore.session import AioSession, get_session
from botocore.exceptions import BotoCoreError, ClientError

from syncer.aws.limits import TargetLimits
from syncer.aws.responses import as_received
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
OPERATIONS = ("ListModelPackageGroups", "ListModelPackages", "Search")
# The change feed: Search filters and sorts packages on LastModifiedTime, which
# summaries lack, and returns their approval, status and life-cycle stage.
SEARCH_PACKAGES: dict[str, Any] = {"Resource": "ModelPackage", "SortBy": "LastModifiedTime"}
# A Search filter's timestamp value, as documented (in UTC).
SEARCH_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"
# Errors that mean Search will not work for the target as configured (the role
# may not call it, or the request is refused): the change feed is switched off
# there for a while instead of failing every cycle.
FEED_REFUSALS = frozenset({"AccessDeniedException", "AccessDenied", "ValidationException"})
THROTTLE_CODES = frozenset(
    {"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded"}
)


@dataclass
class ApiStats:
    """Counts of SageMaker HTTP attempts by (operation, outcome); read by metrics and runs."""

    attempts: Counter[tuple[str, str]] = field(default_factory=Counter)

    def record(self, operation: str, outcome: str) -> None:
        self.attempts[(operation, outcome)] += 1

    @property
    def total(self) -> int:
        return sum(self.attempts.values())

    @property
    def throttled(self) -> int:
        return sum(n for (_, outcome), n in self.attempts.items() if outcome == "throttled")


@dataclass(frozen=True)
class SourceOptions:
    concurrency: int
    max_requests_per_second: float
    page_size: int = 100
    max_attempts: int = 8
    api_timeout_seconds: float = 30.0
    # Only for `syncer demo` and tests; otherwise botocore's own resolution
    # (AWS_ENDPOINT_URL_SAGEMAKER, profiles, IMDS, web identity) applies.
    endpoint_url: str | None = None
    static_credentials: tuple[str, str] | None = None
    # False: each operation class is paced at the ceiling, as a fixed cap.
    adaptive_rate: bool = True


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
        if created_after is not None:  # a directed cycle: only groups new since then
            params["CreationTimeAfter"] = created_after
        async for items, last in self._pages(
            "list_model_package_groups", "ModelPackageGroupSummaryList", params
        ):
            yield _parse_all(items, parse_group, "ModelPackageGroupArn", str(self.target), last)

    async def list_packages(
        self, group_name: str | None, created_after: datetime | None
    ) -> AsyncIterator[Page[PackageSummary]]:
        """A group's versions, or (group_name=None) the target's unversioned packages.

        Sorted by creation time, ascending, so that a page's last row bounds what
        has been stored so far.
        """
        params: dict[str, Any] = {"SortBy": "CreationTime", "SortOrder": "Ascending"}
        if group_name is None:
            params["ModelPackageType"] = "Unversioned"
        else:
            params["ModelPackageGroupName"] = group_name
        if created_after is not None:
            params["CreationTimeAfter"] = created_after

        def parse(item: dict[str, Any]) -> PackageSummary:
            return parse_package(item, group_name)

        async for items, last in self._pages(
            "list_model_packages", "ModelPackageSummaryList", params
        ):
            yield _parse_all(items, parse, "ModelPackageArn", str(self.target), last)

    async def latest_change(self) -> datetime | None:
        """When the target's most recently modified package changed (None: it has no package)."""
        request = dict(SEARCH_PACKAGES, SortOrder="Descending", MaxResults=1)
        response = await _translate("search", self._client.search(**request))
        # The newest of what came back, should a server ignore the sort or the limit.
        page = _parse_all(response.get("Results") or [], parse_package_change, "", str(self.target))
        return max((c.last_modified for c in page.items), default=None)

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
        after = modified_after.astimezone(UTC).strftime(SEARCH_TIME_FORMAT)
        params = dict(
            SEARCH_PACKAGES,
            SortOrder="Ascending",
            SearchExpression={
                "Filters": [{"Name": "LastModifiedTime", "Operator": "GreaterThan", "Value": after}]
            },
        )
        async for items, last in self._pages("search", "Results", params, required=False):
            page = _parse_all(items, parse_package_change, "", str(self.target), last)
            yield replace(page, received=items)

    async def search_records(
        self, resource: str, created_after: datetime | None = None
    ) -> AsyncIterator[tuple[list[dict[str, Any]], bool]]:
        """Search results of a resource (ModelPackage, ModelPackageGroup) as received,
        by CreationTime ascending, created after a moment (sent in whole seconds,
        rounded down) or all of them; with whether each page is the last."""
        params: dict[str, Any] = {
            "Resource": resource,
            "SortBy": "CreationTime",
            "SortOrder": "Ascending",
        }
        if created_after is not None:
            after = created_after.astimezone(UTC).strftime(SEARCH_TIME_FORMAT)
            params["SearchExpression"] = {
                "Filters": [{"Name": "CreationTime", "Operator": "GreaterThan", "Value": after}]
            }
        async for items, last in self._pages("search", "Results", params, required=False):
            yield items, last

    async def newest_records(self, sort_by: str) -> list[dict[str, Any]]:
        """What Search puts first, sorted on ``sort_by`` descending, one asked for.

        A list: a server may ignore the sort or the limit (moto does both).
        """
        request = dict(SEARCH_PACKAGES, SortBy=sort_by, SortOrder="Descending", MaxResults=1)
        response = await _translate("search", self._client.search(**request))
        return _records(response.get("Results") or [])

    async def searched_after(
        self, time_property: str, after: datetime
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Search records with ``time_property`` after a moment, sorted on it, ascending.

        The query of the change feed (``changed_packages``) on any time
        property, records as received: the bound in whole seconds, rounded down.
        """
        bound = {"Name": time_property, "Operator": "GreaterThan", "Value": whole_seconds(after)}
        params = dict(
            SEARCH_PACKAGES,
            SortBy=time_property,
            SortOrder="Ascending",
            SearchExpression={"Filters": [bound]},
        )
        async for items, _ in self._pages("search", "Results", params, required=False):
            yield _records(items)

    # A listing that never ends would hold its scope (and the cycle) forever
    # while /healthz stays green: an endpoint can send a new token with every
    # page. Real listings end far sooner: empty pages come a few at a time,
    # and 100,000 pages are 10 million versions at the largest page size.
    max_empty_pages = 1_000
    max_pages = 100_000

    async def _pages(
        self, method: str, key: str, params: dict[str, Any], *, required: bool = True
    ) -> AsyncIterator[tuple[list[dict[str, Any]], bool]]:
        """Each page's items, and whether it is the last.

        Follow NextToken to its end, not to the first empty page: list calls
        may return empty pages that still carry a token. A token seen before,
        too many empty pages in a row or too many pages end the listing with
        an error: the scope fails, and says why.
        """
        seen_tokens: set[str] = set()
        token: str | None = None
        pages = empty_run = 0
        call = getattr(self._client, method)
        while True:
            if pages >= self.max_pages:
                raise ListingError(
                    f"{method}: more than {self.max_pages} pages, each with a new NextToken; "
                    "stopped the listing"
                )
            if empty_run >= self.max_empty_pages:
                raise ListingError(
                    f"{method}: {empty_run} empty pages in a row, each with a new NextToken; "
                    "stopped the listing"
                )
            request = dict(params, MaxResults=self._page_size)
            if token:
                request["NextToken"] = token
            response = await _translate(method, call(**request))
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


# Skipped items are reported once per page: a count, and the first few with their reasons.
SKIPPED_EXAMPLES = 5


def _records(results: Iterable[Any]) -> list[dict[str, Any]]:
    """The ModelPackage records of Search results (anything else is left out)."""
    return [
        r["ModelPackage"]
        for r in results
        if isinstance(r, dict) and isinstance(r.get("ModelPackage"), dict)
    ]


def whole_seconds(moment: datetime) -> str:
    """A Search timestamp filter value, as the change feed sends it (whole seconds, down)."""
    return moment.astimezone(UTC).strftime(SEARCH_TIME_FORMAT)


def _parse_all(
    items: Iterable[Any],
    parse: Callable[[dict[str, Any]], T],
    key: str,
    where: str,
    last: bool = True,
) -> Page[T]:
    parsed: list[T] = []
    skipped_arns: list[str] = []
    examples: list[tuple[str | None, str]] = []
    skipped = 0
    for item in items:
        try:
            if not isinstance(item, dict):
                raise InvalidRecord(f"item is a {type(item).__name__}, not an object")
            parsed.append(parse(item))
        except InvalidRecord as exc:
            skipped += 1
            arn = item.get(key) if isinstance(item, dict) else None
            if isinstance(arn, str) and arn:
                skipped_arns.append(clean_text(arn))
            if len(examples) < SKIPPED_EXAMPLES:
                shown = arn or _searched_arn(item)
                examples.append((str(shown)[:200] if shown else None, str(exc)))
    if skipped:
        log.warning(
            "source.items_skipped",
            target=where,
            count=skipped,
            sample_arn=examples[0][0],
            reason=examples[0][1],
            examples=examples,
        )
    return Page(parsed, skipped_arns, skipped, last)


def _searched_arn(item: Any) -> Any:
    """The ARN of a Search result ({"ModelPackage": {...}}), to name it in the log."""
    record = item.get("ModelPackage") if isinstance(item, dict) else None
    return record.get("ModelPackageArn") if isinstance(record, dict) else None


async def _translate(method: str, call: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    """Botocore and transport errors become SourceError with one readable line."""
    try:
        return await call
    except ClientError as exc:
        error = exc.response.get("Error", {})
        # An assumed role's credentials are fetched on first use, inside the call.
        if exc.operation_name == "AssumeRole":
            method = f"{method}: sts:AssumeRole"
        raise SourceError(
            f"{method}: {error.get('Code', 'Error')}: {error.get('Message', '')}".rstrip(": ")
        ) from exc
    except (BotoCoreError, aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise SourceError(f"{method}: {type(exc).__name__}: {exc}") from exc


class SourcePool:
    """Opens one client per target and resolves which account each target is."""

    def __init__(self, options: SourceOptions, stats: ApiStats) -> None:
        self._options = options
        self._stats = stats
        self._stack = contextlib.AsyncExitStack()
        # Opened sources and the sessions behind them, by target and by role ARN
        # (None: the base credentials); targets change between cycles.
        self._sources: dict[Target, RegistrySource] = {}
        self._sessions: dict[str | None, AioSession] = {}
        self._loader = get_session().get_component("data_loader")

    async def __aenter__(self) -> SourcePool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    def _config(self) -> AioConfig:
        return AioConfig(
            # The pool would otherwise silently cap concurrency at 10.
            max_pool_connections=self._options.concurrency + 2,
            # total_max_attempts counts the first attempt; botocore's max_attempts
            # would count only the retries, one more call than configured.
            retries={"mode": retry_mode(), "total_max_attempts": self._options.max_attempts},
            connect_timeout=min(10.0, self._options.api_timeout_seconds),
            read_timeout=self._options.api_timeout_seconds,
            user_agent_appid="registry-sync",
        )

    def _client_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"config": self._config()}
        if self._options.endpoint_url:
            kwargs["endpoint_url"] = self._options.endpoint_url
        return kwargs

    def _shares_models(self, session: AioSession) -> AioSession:
        """``session``, loading service models through the pool's one loader and its cache.

        Each session would otherwise load and keep its own copy of SageMaker's
        model: 17 MB per assumed role, most of a replica's memory with an
        organization's accounts (docs/scale.md); shared, a client costs ~1 MB.
        """
        session.register_component("data_loader", self._loader)
        return session

    def _base_session(self) -> AioSession:
        """The session of the default credential chain (or the demo's fixed keys)."""
        session = self._shares_models(get_session())
        if self._options.static_credentials:
            session.set_credentials(*self._options.static_credentials)
        return session

    async def open(self, regions: Sequence[str], role_arns: Sequence[str]) -> list[RegistrySource]:
        """One source per (role or default credentials) x region."""
        if role_arns:
            targets = [
                Target(arn.split(":")[4], region, arn) for arn in role_arns for region in regions
            ]
        else:
            account_id = await self.caller_account(regions[0])
            targets = [Target(account_id, region) for region in regions]
        return await self.open_sources(targets)

    async def open_sources(self, targets: Sequence[Target]) -> list[RegistrySource]:
        """A source per target: opened once, then kept (with its role's session) for reuse."""
        sources = []
        for target in targets:
            source = self._sources.get(target)
            if source is None:
                session = self._sessions.get(target.role_arn)
                if session is None:
                    if target.role_arn is None:
                        session = as_received(self._base_session())
                    else:
                        session = await self._assumed_session(
                            self._base_session(), target.role_arn, target.region
                        )
                    self._sessions[target.role_arn] = session
                source = self._sources[target] = await self._open_client(session, target)
            sources.append(source)
        return sources

    def base_client(self, service: str, region: str) -> Any:
        """A client of another service (Organizations) with the base credentials."""
        kwargs = self._client_kwargs()
        kwargs["config"] = kwargs["config"].merge(AioConfig(retries={"max_attempts": 3}))
        return self._base_session().create_client(service, region_name=region, **kwargs)

    def partition(self, region: str) -> str:
        """The partition of a region (aws, aws-cn, aws-us-gov), for the ARNs of roles."""
        return str(self._base_session().get_partition_for_region(region))

    async def caller_account(self, region: str) -> str:
        """The account of the base credentials (sts:GetCallerIdentity)."""
        return await self._caller_account(as_received(self._base_session()), region)

    async def _open_client(self, session: AioSession, target: Target) -> RegistrySource:
        client = await self._stack.enter_async_context(
            session.create_client(SERVICE, region_name=target.region, **self._client_kwargs())
        )
        limits = TargetLimits(
            self._options.max_requests_per_second, adaptive=self._options.adaptive_rate
        )
        self._instrument(client, limits)
        return RegistrySource(client, target, self._options.page_size, limits)

    def _instrument(self, client: Any, limits: TargetLimits) -> None:
        events = client.meta.events

        async def before_send(event_name: str, **_: Any) -> None:
            # Retries pass through here too, so they wait for their turn as well.
            # aiobotocore's emitter awaits a handler's coroutine.
            await limits.acquire(event_name.rsplit(".", 1)[-1])

        def after_attempt(
            operation: Any, response: Any = None, caught_exception: Any = None, **_: Any
        ) -> None:
            outcome = _outcome(response, caught_exception)
            self._stats.record(operation.name, outcome)
            limits.record(operation.name, outcome)

        events.register(f"before-send.{SERVICE}", before_send)
        events.register(f"needs-retry.{SERVICE}", after_attempt)

    async def _caller_account(self, session: AioSession, region: str) -> str:
        kwargs = self._client_kwargs()
        kwargs["config"] = kwargs["config"].merge(AioConfig(retries={"max_attempts": 3}))
        try:
            async with session.create_client("sts", region_name=region, **kwargs) as sts:
                identity = await sts.get_caller_identity()
        except (ClientError, BotoCoreError, aiohttp.ClientError, TimeoutError) as exc:
            raise SourceError(
                f"sts:GetCallerIdentity failed ({type(exc).__name__}: {exc}); the account id "
                "of the credentials is needed (for a local stand-in set AWS_ENDPOINT_URL_STS "
                "or AWS_ENDPOINT_URL too)"
            ) from exc
        return str(identity["Account"])

    async def _assumed_session(self, base: AioSession, role_arn: str, region: str) -> AioSession:
        kwargs = self._client_kwargs()

        def create_sts(service: str, **creds: Any) -> Any:
            return base.create_client(service, region_name=region, **{**kwargs, **creds})

        fetcher = AioAssumeRoleCredentialFetcher(
            client_creator=create_sts,
            source_credentials=await base.get_credentials(),
            role_arn=role_arn,
            extra_args={"RoleSessionName": "registry-sync"},
        )
        session = as_received(self._shares_models(AioSession()))
        # Refreshed before expiry by botocore, per request, for the life of the client.
        session._credentials = AioDeferredRefreshableCredentials(
            refresh_using=fetcher.fetch_credentials, method="assume-role"
        )
        return session


def feed_refusal(exc: BaseException) -> str | None:
    """The error code when ``exc`` is SageMaker refusing Search (see FEED_REFUSALS)."""
    cause = exc.__cause__ if isinstance(exc, SourceError) else None
    if isinstance(cause, ClientError):
        code = cause.response.get("Error", {}).get("Code")
        if code in FEED_REFUSALS:
            return str(code)
    return None


def retry_mode(environ: Mapping[str, str] = os.environ) -> str:
    """botocore's ``standard`` retry mode, or ``adaptive`` when AWS_RETRY_MODE asks for it.

    Adaptive adds a client-side rate that backs off on throttling. With the cap
    at twice the server's limit it kept every scope alive where standard ran
    out of retry quota, but it slowed an unthrottled full sync by 10 to 75%
    (docs/benchmarks.md), so it is for accounts whose limit other clients
    share. botocore's own default, ``legacy``, is never used.
    """
    return "adaptive" if environ.get("AWS_RETRY_MODE", "").strip() == "adaptive" else "standard"


def _outcome(response: Any, caught_exception: Any) -> str:
    if caught_exception is not None:
        return "transport_error"
    if not response:
        return "unknown"
    http, parsed = response
    code = (parsed or {}).get("Error", {}).get("Code")
    if code in THROTTLE_CODES:
        return "throttled"
    status = getattr(http, "status_code", 200)
    if status >= 500:
        return "server_error"
    if status >= 400:
        return "client_error"
    return "ok"
