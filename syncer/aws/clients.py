"""SageMaker clients through aiobotocore: sessions, credentials, retries, call accounting.

One client per target (account x region), shared by every task of that target.
Every HTTP attempt, retries included, first waits for its turn at the
target's limits (syncer/aws/limits.py). botocore's ``standard`` retry mode
(``adaptive`` if AWS_RETRY_MODE says so) retries throttling and 5xx with
jittered exponential backoff and a bounded number of attempts.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiobotocore.config import AioConfig
from aiobotocore.credentials import (
    AioAssumeRoleCredentialFetcher,
    AioDeferredRefreshableCredentials,
)
from aiobotocore.session import AioSession, get_session
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError

from syncer.aws.limits import TargetLimits
from syncer.aws.registry import SERVICE, RegistrySource
from syncer.aws.responses import CappedHttpSession, ResponseTooLarge, as_received
from syncer.errors import SourceError
from syncer.logging import remember_secret
from syncer.models import Target

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
    # sts:AssumeRole's ExternalId, and its RoleSessionName (session_name()).
    external_id: str | None = None
    session_name: str = "registry-sync"


class SourcePool:
    """Opens one client per target and resolves which account each target is."""

    def __init__(self, options: SourceOptions, stats: ApiStats) -> None:
        # Credentials are masked in everything printed or stored: an endpoint
        # may echo them (a signature error quotes the session token).
        remember_secret(
            os.environ.get("AWS_SECRET_ACCESS_KEY"), os.environ.get("AWS_SESSION_TOKEN")
        )
        if options.static_credentials:
            remember_secret(options.static_credentials[1])
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
            http_session_cls=CappedHttpSession,
        )

    def _client_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"config": self._config()}
        if self._options.endpoint_url:
            kwargs["endpoint_url"] = self._options.endpoint_url
        return kwargs

    def _shares_models(self, session: AioSession) -> AioSession:
        """``session``, loading service models through the pool's one loader and its cache.

        Each session would otherwise load and keep its own copy of SageMaker's
        model, per assumed role: most of a replica's memory with an
        organization's accounts.
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
            if too_large(caught_exception):
                # The same answer again at every retry (and retried, such
                # bodies added up in memory): the call fails now.
                raise caught_exception

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

    def _assume_role_args(self) -> dict[str, str]:
        args = {"RoleSessionName": self._options.session_name}
        if self._options.external_id:
            args["ExternalId"] = self._options.external_id
        return args

    async def _assumed_session(self, base: AioSession, role_arn: str, region: str) -> AioSession:
        kwargs = self._client_kwargs()

        def create_sts(service: str, **creds: Any) -> Any:
            return base.create_client(service, region_name=region, **{**kwargs, **creds})

        source = await base.get_credentials()
        if source is not None:
            frozen = await source.get_frozen_credentials()
            remember_secret(frozen.secret_key, frozen.token)
        fetcher = AioAssumeRoleCredentialFetcher(
            client_creator=create_sts,
            source_credentials=source,
            role_arn=role_arn,
            extra_args=self._assume_role_args(),
        )

        async def fetch() -> dict[str, Any]:
            credentials: dict[str, Any] = await fetcher.fetch_credentials()
            remember_secret(credentials.get("secret_key"), credentials.get("token"))
            return credentials

        session = as_received(self._shares_models(AioSession()))
        # Refreshed before expiry by botocore, per request, for the life of the client.
        session._credentials = AioDeferredRefreshableCredentials(
            refresh_using=fetch, method="assume-role"
        )
        return session


# IAM's rule for a RoleSessionName: 2 to 64 of these characters.
_SESSION_UNSAFE = re.compile(r"[^\w+=,.@-]")


def session_name(environ: Mapping[str, str] = os.environ) -> str:
    """The RoleSessionName of every AssumeRole: ``registry-sync@`` and the pod
    (POD_NAME, else HOSTNAME, which Kubernetes sets to the pod's name), so that
    member accounts' CloudTrail tells deployments and replicas apart."""
    where = environ.get("POD_NAME") or environ.get("HOSTNAME") or ""
    name = f"registry-sync@{_SESSION_UNSAFE.sub('-', where)}" if where else "registry-sync"
    return name[:64]


def retry_mode(environ: Mapping[str, str] = os.environ) -> str:
    """botocore's ``standard`` retry mode, or ``adaptive`` when AWS_RETRY_MODE asks for it.

    Adaptive adds botocore's own client-side rate, which backs off on
    throttling but also slows an unthrottled sync; the service's adaptive
    rate (syncer/aws/limits.py) already paces every attempt. botocore's own
    default, ``legacy``, is never used.
    """
    return "adaptive" if environ.get("AWS_RETRY_MODE", "").strip() == "adaptive" else "standard"


def too_large(exc: Any) -> bool:
    """Whether a call's exception is a response over the size cap (ResponseTooLarge)."""
    return isinstance(exc, HTTPClientError) and isinstance(
        exc.kwargs.get("error"), ResponseTooLarge
    )


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
