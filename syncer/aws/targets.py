"""Which targets (account x region) a deployment mirrors, decided again at every cycle.

Targets come from three places, in this order of precedence:

- ``SYNCER_ROLE_ARNS``: one role per account, as listed;
- discovery (``SYNCER_ORGANIZATION_ROLE_NAME``): the organization's ACTIVE
  accounts, listed with the base credentials (the management account or a
  delegated administrator), optionally only those under the OUs of
  ``SYNCER_ORGANIZATION_UNITS`` (nested OUs included), each reached by assuming
  ``arn:<partition>:iam::<account>:role/<name>``;
- otherwise the account of the base credentials themselves.

An account named both ways is mirrored once, through its listed role;
``SYNCER_SKIP_ACCOUNTS`` removes accounts whatever named them. Each account is
mirrored in every region of ``SYNCER_REGIONS``.

An account that leaves the organization or stops being ACTIVE stops being
synced at the next cycle. Its rows are left as they were, never marked
deleted: leaving says nothing about its models, which may still exist (and
come back if it returns). ``sync_state`` keeps when it was last listed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from botocore.exceptions import BotoCoreError, ClientError

from syncer.aws.clients import SourcePool
from syncer.aws.registry import RegistrySource, follow_tokens
from syncer.errors import SourceError
from syncer.logging import get_logger
from syncer.models import Target
from syncer.settings import Settings

log = get_logger(__name__)

ACTIVE = "ACTIVE"
# The Organizations operations discovery calls; deploy/syncer-policy.json grants exactly these.
ORGANIZATIONS_OPERATIONS = ("ListAccounts", "ListAccountsForParent", "ListChildren")
# A target's state, from its group listing's row in sync_state (see target_states);
# departed: a target of an earlier cycle of this process that is no longer one.
TARGET_STATES = ("ok", "failing", "new", "departed")


@dataclass(frozen=True)
class Account:
    id: str
    name: str


@dataclass(frozen=True)
class TargetPlan:
    """The settings that choose targets; everything discovery needs but the accounts."""

    regions: tuple[str, ...]
    role_arns: tuple[str, ...] = ()
    role_name: str | None = None
    units: tuple[str, ...] = ()
    skip: frozenset[str] = frozenset()

    @classmethod
    def from_settings(cls, settings: Settings, environ: Mapping[str, str]) -> TargetPlan:
        return cls(
            regions=tuple(settings.region_list(environ)),
            role_arns=tuple(settings.role_arns),
            role_name=settings.organization_role_name,
            units=tuple(settings.organization_units),
            skip=frozenset(settings.skip_accounts),
        )

    @property
    def discovers(self) -> bool:
        return self.role_name is not None


def choose_targets(
    plan: TargetPlan,
    accounts: Sequence[Account],
    partition: str = "aws",
    caller_account: str | None = None,
) -> list[Target]:
    """The targets of a cycle: listed roles, then discovered accounts, minus skipped ones.

    ``caller_account`` (the base credentials' account) is a target only when
    neither roles nor discovery name any.
    """
    roles: dict[str, str] = {}
    for arn in plan.role_arns:
        roles.setdefault(arn.split(":")[4], arn)
    if plan.role_name is not None:
        for account in accounts:
            roles.setdefault(account.id, f"arn:{partition}:iam::{account.id}:role/{plan.role_name}")
    targets = [
        Target(account_id, region, arn)
        for account_id, arn in roles.items()
        if account_id not in plan.skip
        for region in plan.regions
    ]
    only_caller = not plan.role_arns and not plan.discovers
    if only_caller and caller_account is not None and caller_account not in plan.skip:
        targets = [Target(caller_account, region) for region in plan.regions]
    return targets


async def list_active_accounts(client: Any, units: Sequence[str] = ()) -> list[Account]:
    """The organization's ACTIVE accounts; with ``units``, only those under them, nested OUs too."""
    if not units:
        found = await _accounts(client, "list_accounts", {})
    else:
        found = []
        pending, seen = list(units), set(units)
        while pending:
            parent = pending.pop()
            found += await _accounts(client, "list_accounts_for_parent", {"ParentId": parent})
            async for children in _pages(
                client,
                "list_children",
                {"ParentId": parent, "ChildType": "ORGANIZATIONAL_UNIT"},
                "Children",
            ):
                for child in children:
                    if child["Id"] not in seen:
                        seen.add(child["Id"])
                        pending.append(child["Id"])
    unique = {account.id: account for account in found}
    return sorted(unique.values(), key=lambda account: account.id)


async def _accounts(client: Any, method: str, params: dict[str, Any]) -> list[Account]:
    accounts = []
    async for items in _pages(client, method, params, "Accounts"):
        for item in items:
            # `State` replaces `Status` (deprecated in 2025); either says ACTIVE.
            if (item.get("State") or item.get("Status")) == ACTIVE:
                accounts.append(Account(str(item["Id"]), str(item.get("Name") or "")))
    return accounts


async def _pages(
    client: Any, method: str, params: dict[str, Any], key: str
) -> AsyncIterator[list[dict[str, Any]]]:
    """Each page's items, bounded as the SageMaker listings are (a repeated token,
    too many pages or too many empty pages in a row end discovery with an error)."""
    call = getattr(client, method)

    async def fetch(token: str | None) -> dict[str, Any]:
        request = dict(params, NextToken=token) if token else dict(params)
        try:
            response: dict[str, Any] = await call(**request)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise SourceError(
                f"organizations:{exc.operation_name}: {error.get('Code', 'Error')}: "
                f"{error.get('Message', '')}"
            ) from exc
        except (BotoCoreError, aiohttp.ClientError, TimeoutError) as exc:
            raise SourceError(f"organizations: {type(exc).__name__}: {exc}") from exc
        return response

    async for items, _ in follow_tokens(
        f"organizations:{method}",
        fetch,
        key,
        required=False,
        max_pages=RegistrySource.max_pages,
        max_empty_pages=RegistrySource.max_empty_pages,
    ):
        yield [item for item in items if isinstance(item, dict)]


class Targets:
    """The deployment's targets and their sources, re-resolved by ``refresh``.

    A source, once opened, is kept for the life of the process: an account that
    comes back finds its client (and its credentials) ready.
    """

    def __init__(self, plan: TargetPlan, pool: SourcePool) -> None:
        self.plan = plan
        self._pool = pool
        self.current: list[Target] = []
        # Targets of an earlier cycle that are no longer targets.
        self.departed: set[Target] = set()
        # The last discovery's error, while the previous targets stand in.
        self.error: str | None = None
        self._caller: str | None = None
        self._resolved = False

    async def refresh(self) -> list[RegistrySource]:
        """This cycle's sources. Discovery that fails keeps the previous targets and
        sets ``error``; it raises SourceError only when there are none yet."""
        try:
            targets = await self.resolve()
        except SourceError as exc:
            if not self._resolved:
                raise
            self.error = str(exc)
            log.warning("targets.discovery_failed", error=self.error, kept=len(self.current))
            return await self._pool.open_sources(self.current)
        self.error = None
        previous = set(self.current)
        if self._resolved and set(targets) != previous:
            log.info(
                "targets.changed",
                joined=sorted(str(t) for t in set(targets) - previous),
                left=sorted(str(t) for t in previous - set(targets)),
            )
        self.departed = (self.departed | previous) - set(targets)
        self.current = targets
        self._resolved = True
        return await self._pool.open_sources(targets)

    async def resolve(self) -> list[Target]:
        """The targets as configured now: discovery's calls, no SageMaker client opened."""
        plan = self.plan
        if plan.discovers:
            async with self._pool.base_client("organizations", plan.regions[0]) as client:
                accounts = await list_active_accounts(client, plan.units)
            partition = self._pool.partition(plan.regions[0])
            targets = choose_targets(plan, accounts, partition)
            log.info("targets.discovered", accounts=len(accounts), targets=len(targets))
            return targets
        if not plan.role_arns and self._caller is None:
            self._caller = await self._pool.caller_account(plan.regions[0])
        return choose_targets(plan, [], caller_account=self._caller)


def target_states(
    targets: Sequence[Target], groups_rows: Mapping[tuple[str, str], tuple[int, bool]]
) -> dict[Target, str]:
    """Each target's state from its group listing's sync_state row.

    ``groups_rows`` maps (account, region) to (consecutive_failures, ever succeeded).
    failing: its last attempt failed (for instance, the role cannot be assumed);
    ok: its last attempt succeeded; new: not attempted yet.
    """
    states = {}
    for target in targets:
        failures, succeeded = groups_rows.get((target.account_id, target.region), (0, False))
        states[target] = "failing" if failures else "ok" if succeeded else "new"
    return states
