"""Which targets a configuration chooses (a pure decision), and the settings behind it."""

from __future__ import annotations

import pytest

from syncer.aws.targets import Account, TargetPlan, choose_targets, target_states
from syncer.errors import ConfigError
from syncer.models import Target
from syncer.settings import load_settings
from syncer.variables import known_variables, unknown_variables

DSN = "postgresql://svc@db.example/registry"
LISTED = "arn:aws:iam::111111111111:role/explicit"


def plan(**values: object) -> TargetPlan:
    defaults: dict[str, object] = {"regions": ("us-east-1", "eu-west-1")}
    defaults.update(values)
    return TargetPlan(**defaults)  # type: ignore[arg-type]


def test_discovered_accounts_times_regions_through_the_role_name() -> None:
    accounts = [Account("222222222222", "ml"), Account("333333333333", "risk")]
    targets = choose_targets(plan(role_name="RegistryReader"), accounts, "aws-cn")
    assert targets == [
        Target("222222222222", "us-east-1", "arn:aws-cn:iam::222222222222:role/RegistryReader"),
        Target("222222222222", "eu-west-1", "arn:aws-cn:iam::222222222222:role/RegistryReader"),
        Target("333333333333", "us-east-1", "arn:aws-cn:iam::333333333333:role/RegistryReader"),
        Target("333333333333", "eu-west-1", "arn:aws-cn:iam::333333333333:role/RegistryReader"),
    ]


def test_listed_role_wins_and_each_account_is_mirrored_once() -> None:
    accounts = [Account("111111111111", "listed too"), Account("222222222222", "ml")]
    targets = choose_targets(
        plan(regions=("us-east-1",), role_arns=(LISTED,), role_name="Reader"), accounts
    )
    assert targets == [
        Target("111111111111", "us-east-1", LISTED),
        Target("222222222222", "us-east-1", "arn:aws:iam::222222222222:role/Reader"),
    ]


def test_skipped_accounts_are_never_targets_whatever_named_them() -> None:
    accounts = [Account("222222222222", "ml"), Account("333333333333", "sandbox")]
    skip = frozenset({"111111111111", "333333333333"})
    targets = choose_targets(
        plan(regions=("us-east-1",), role_arns=(LISTED,), role_name="R", skip=skip), accounts
    )
    assert [t.account_id for t in targets] == ["222222222222"]
    assert choose_targets(plan(skip=skip), [], caller_account="333333333333") == []


def test_the_callers_account_only_when_nothing_else_names_targets() -> None:
    assert choose_targets(plan(regions=("us-east-1",)), [], caller_account="444444444444") == [
        Target("444444444444", "us-east-1")
    ]
    # Discovery that finds nothing mirrors nothing, not the management account's own registry.
    assert choose_targets(plan(role_name="R"), [], caller_account="444444444444") == []


def test_target_states_from_the_group_listings_row() -> None:
    a, b, c = (Target(n * 12, "us-east-1") for n in "123")
    rows = {("111111111111", "us-east-1"): (0, True), ("222222222222", "us-east-1"): (2, True)}
    assert target_states([a, b, c], rows) == {a: "ok", b: "failing", c: "new"}


def test_organization_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCER_DATABASE_URL", DSN)
    monkeypatch.setenv("SYNCER_ORGANIZATION_ROLE_NAME", "service-role/RegistryReader")
    monkeypatch.setenv("SYNCER_ORGANIZATION_UNITS", "ou-ab12-cdef5678, r-ab12")
    monkeypatch.setenv("SYNCER_SKIP_ACCOUNTS", "123456789012")
    s = load_settings()
    assert s.organization_role_name == "service-role/RegistryReader"
    assert s.organization_units == ["ou-ab12-cdef5678", "r-ab12"]
    assert s.skip_accounts == ["123456789012"]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SYNCER_ORGANIZATION_ROLE_NAME": "arn:aws:iam::1:role/x"}, "not an IAM role name"),
        (
            {"SYNCER_ORGANIZATION_ROLE_NAME": "R", "SYNCER_ORGANIZATION_UNITS": "prod"},
            "SYNCER_ORGANIZATION_UNITS: Value error, not an OU id",
        ),
        ({"SYNCER_SKIP_ACCOUNTS": "12345"}, "SYNCER_SKIP_ACCOUNTS: Value error, not a 12-digit"),
        (
            {"SYNCER_ORGANIZATION_UNITS": "ou-ab12-cdef5678"},
            "needs SYNCER_ORGANIZATION_ROLE_NAME",
        ),
    ],
)
def test_bad_organization_settings_are_one_line(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    monkeypatch.setenv("SYNCER_DATABASE_URL", DSN)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError, match=message) as caught:
        load_settings()
    assert "\n" not in str(caught.value)


def test_unknown_variables_are_named_with_the_nearest_known_one() -> None:
    environ = {
        "SYNCER_ORGANISATION_ROLE_NAME": "RegistryReader",
        "SYNCER_REGION": "us-east-1",
        "SYNCER_ZZZ": "1",
        "SYNCER_DATABASE_URL": DSN,
        "syncer_log_level": "debug",  # settings are case-insensitive: known
        "AWS_REGION": "us-east-1",
    }
    assert unknown_variables(environ) == [
        "SYNCER_ORGANISATION_ROLE_NAME is not a registry-sync setting and is ignored; "
        "did you mean SYNCER_ORGANIZATION_ROLE_NAME?",
        "SYNCER_REGION is not a registry-sync setting and is ignored; did you mean SYNCER_REGIONS?",
        "SYNCER_ZZZ is not a registry-sync setting and is ignored",
    ]
    assert "SYNCER_SKIP_ACCOUNTS" in known_variables()


def test_the_organization_settings_are_part_of_the_deployment_key() -> None:
    """Deployments over different OUs (or role names, or skip lists) hold leases of their
    own and run side by side; the same lists in another order are the same deployment."""
    from syncer.cycle.lease import deployment_key

    def key(**values: object) -> str:
        return deployment_key(load_settings(database_url=DSN, **values), ["us-east-1"])

    prod = key(organization_role_name="R", organization_units=["ou-ab12-prod0001"])
    assert prod != key(organization_role_name="R", organization_units=["ou-ab12-devx0001"])
    assert prod != key(organization_role_name="Other", organization_units=["ou-ab12-prod0001"])
    assert key(organization_role_name="R") != key(
        organization_role_name="R", skip_accounts=["123456789012"]
    )
    assert key(
        organization_role_name="R", organization_units=["ou-ab12-prod0001", "ou-ab12-shrd0001"]
    ) == key(
        organization_role_name="R", organization_units=["ou-ab12-shrd0001", "ou-ab12-prod0001"]
    )
