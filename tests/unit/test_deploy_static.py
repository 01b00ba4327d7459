"""The Dockerfile, compose file, Kubernetes manifests, IAM policy, alert rules and
dashboard, checked statically: no Docker engine or cluster runs here. Each check
ties a deploy file to the code it describes (routes, settings, metrics, API
operations), so the two cannot drift apart unnoticed. The acceptance tests run
the image's ENTRYPOINT and HEALTHCHECK commands against a live service.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from syncer.aws.clients import ApiStats
from syncer.aws.limits import TargetLimits
from syncer.aws.queue import QUEUE_ACTIONS
from syncer.aws.registry import OPERATIONS
from syncer.aws.targets import ORGANIZATIONS_OPERATIONS
from syncer.cli import build_parser
from syncer.cycle.metrics import Metrics, ScopeState
from syncer.events.metrics import EventMetrics
from syncer.events.parse import API_CALL, DELETE_GROUP, DELETE_PACKAGE, PACKAGE_STATE_CHANGE
from syncer.http import build_app
from syncer.models import Target
from syncer.settings import ENV_PREFIX, Settings
from syncer.variables import known_variables

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
ROOT_USERS = {"root", "0"}
BUILD_TOOLS = re.compile(
    r"apt-get install|apk add|build-essential|\bgcc\b|\bmake\b|pip install|pip wheel"
)


# ---------------------------------------------------------------- Dockerfile parsing
@dataclass(frozen=True)
class Instruction:
    stage: str
    keyword: str
    args: str


def dockerfile(path: Path = ROOT / "Dockerfile") -> list[Instruction]:
    """Instructions with continuation lines joined, comments dropped, by stage."""
    logical: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, "Dockerfile ends in a line continuation"
    instructions = []
    stage = ""
    for line in logical:
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            words = args.split()
            stage = (
                words[2] if len(words) == 3 and words[1].upper() == "AS" else str(len(instructions))
            )
        instructions.append(Instruction(stage, keyword, args.strip()))
    return instructions


def stages() -> dict[str, list[Instruction]]:
    found: dict[str, list[Instruction]] = {}
    for instruction in dockerfile():
        found.setdefault(instruction.stage, []).append(instruction)
    return found


def final_stage() -> list[Instruction]:
    return list(stages().values())[-1]


def only(stage: list[Instruction], keyword: str) -> Instruction:
    matches = [i for i in stage if i.keyword == keyword]
    assert matches, f"no {keyword} in stage {stage[0].stage}"
    return matches[-1]  # the last one wins, as in Docker


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(a, str) for a in value), args
    return value


def healthcheck_command(python: str) -> list[str]:
    """The final image's HEALTHCHECK command, with ``python`` as its interpreter."""
    args = only(final_stage(), "HEALTHCHECK").args
    command = exec_form(args[args.index("CMD ") + 4 :])
    assert command[0] == "python"
    return [python, *command[1:]]


def user_id(spec: str) -> str:
    return spec.split(":")[0]


def app_routes() -> set[str]:
    app = build_app(None, None, None, None)  # type: ignore[arg-type]  # routes only
    return {route.resource.canonical for route in app.router.routes() if route.resource}


# ---------------------------------------------------------------- YAML helpers
def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def kubernetes_objects() -> dict[str, dict[str, Any]]:
    """Every object in deploy/kubernetes, keyed by kind (one of each here)."""
    objects: dict[str, dict[str, Any]] = {}
    for path in sorted(KUBERNETES.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            assert doc["apiVersion"] and doc["kind"], path
            if doc["kind"] != "Kustomization":
                assert doc["metadata"]["name"], path
            assert doc["kind"] not in objects, f"two {doc['kind']} objects"
            objects[doc["kind"]] = doc
    return objects


def exposed_metric_names() -> set[str]:
    """Sample names /metrics serves once every family has a value."""
    metrics = Metrics()
    stats = ApiStats()
    stats.record("ListModelPackages", "throttled")
    metrics.track_api(stats)
    metrics.set_scopes({("1", "us-east-1", "g"): ScopeState(1.0, 2.0, 0)})
    metrics.cycle_seconds.labels("full").observe(1)
    target = Target("1", "us-east-1")
    metrics.track_limits(lambda: {target: TargetLimits(10)})
    metrics.feature_up(target, "change_feed", False)
    EventMetrics(metrics.registry).lag.observe(1)  # registered with SYNCER_EVENTS_QUEUE_URL
    text = generate_latest(metrics.registry).decode()
    return {s.name for family in text_string_to_metric_families(text) for s in family.samples}


def metric_names_in(expression: str) -> set[str]:
    return set(re.findall(r"\bsyncer_[a-z_]+\b", expression))


# ---------------------------------------------------------------- Dockerfile
def test_dockerfile_builds_a_wheel_and_ships_it_in_a_slim_stage_without_build_tools() -> None:
    all_stages = stages()
    assert len(all_stages) >= 2, "multi-stage"
    build = all_stages["build"]
    build_runs = " ".join(i.args for i in build if i.keyword == "RUN")
    assert "pip wheel" in build_runs and "/wheels/" in build_runs
    assert "--only-binary=:all:" in build_runs  # nothing compiled, so no compiler needed

    final = final_stage()
    assert final[0].stage == "runtime"
    base = final[0].args.split()[0]
    assert base == "${BASE_IMAGE}", base  # a slim Python by default (test_deploy_image.py)
    for run in (i for i in final if i.keyword == "RUN"):
        assert not BUILD_TOOLS.search(run.args), run.args
    copies = [i.args for i in final if i.keyword == "COPY"]
    assert copies == ["--from=build /opt/registry-sync /opt/registry-sync"], copies


def test_final_image_runs_syncer_run_as_non_root_with_healthcheck_and_oci_labels() -> None:
    final = final_stage()
    assert user_id(only(final, "USER").args) not in ROOT_USERS
    assert only(final, "USER").args.split(":")[0].isdigit()  # numeric: runAsNonRoot can verify it
    assert exec_form(only(final, "ENTRYPOINT").args) == ["syncer"]
    assert exec_form(only(final, "CMD").args) == ["run"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["syncer"] == "syncer.cli:main"
    assert build_parser().parse_args(["run"]).command == "run"

    check = " ".join(healthcheck_command("python"))
    assert "/healthz" in check and "SYNCER_HTTP_PORT" in check
    assert "/healthz" in app_routes()
    env = only(final, "ENV").args
    assert "SYNCER_HTTP_PORT=8080" in env and "PYTHONDONTWRITEBYTECODE=1" in env
    assert "8080" in only(final, "EXPOSE").args

    labels = {}
    for instruction in (i for i in final if i.keyword == "LABEL"):
        for pair in shlex.split(instruction.args):
            key, _, value = pair.partition("=")
            labels[key] = value
    for key in ("title", "description", "version", "revision", "created", "licenses", "source"):
        assert labels.get(f"org.opencontainers.image.{key}"), key
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert labels["org.opencontainers.image.licenses"] == project["license"]["text"]
    version_arg = next(
        i.args for i in final if i.keyword == "ARG" and i.args.startswith("VERSION=")
    )
    assert version_arg == f"VERSION={project['version']}"


def test_standin_stage_serves_the_seeded_registry() -> None:
    standin = stages()["standin"]
    assert exec_form(only(standin, "ENTRYPOINT").args) == ["python", "-m", "standin"]
    assert user_id(only(standin, "USER").args) not in ROOT_USERS
    assert "standin/sagemaker.py" in only(standin, "COPY").args


def test_dockerignore_admits_exactly_what_the_dockerfile_copies() -> None:
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*", "an allow-list: nothing enters the build context by accident"
    admitted = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    copied = set()
    for instruction in dockerfile():
        if instruction.keyword == "COPY" and not instruction.args.startswith("--from"):
            copied |= {source.rstrip("/") for source in instruction.args.split()[:-1]}
    assert copied == admitted
    assert all((ROOT / path).exists() for path in copied)


# ---------------------------------------------------------------- compose
def test_compose_wires_postgres_the_standin_and_the_syncer() -> None:
    compose = load_yaml(DEPLOY / "compose.yaml")
    services = compose["services"]
    postgres, sagemaker, syncer = services["postgres"], services["sagemaker"], services["syncer"]

    for service in (sagemaker, syncer):
        assert (
            DEPLOY / service["build"]["context"] / service["build"]["dockerfile"]
        ).resolve() == (ROOT / "Dockerfile")
        assert service["build"]["target"] in stages()
        assert service["read_only"] is True and service["cap_drop"] == ["ALL"]
        assert user_id(str(service["user"])) not in ROOT_USERS
        assert service["healthcheck"]["test"]
    assert syncer["build"]["target"] == "runtime" and sagemaker["build"]["target"] == "standin"
    assert syncer["command"] == ["run"]
    assert syncer["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "sagemaker": {"condition": "service_healthy"},
    }

    env = syncer["environment"]
    dsn = urlsplit(env["SYNCER_DATABASE_URL"])
    pg = postgres["environment"]
    # The service's role is not the superuser (tests/unit/test_deploy_image.py).
    assert (dsn.hostname, dsn.path) == ("postgres", f"/{pg['POSTGRES_DB']}")
    endpoint = urlsplit(env["AWS_ENDPOINT_URL"])
    assert endpoint.hostname == "sagemaker"
    command = sagemaker["command"]
    assert command[command.index("--port") + 1] == str(endpoint.port)
    assert command[command.index("--host") + 1] == "0.0.0.0"
    assert env["AWS_REGION"]
    port = env["SYNCER_HTTP_PORT"]
    assert any(mapping.endswith(f":{port}") for mapping in syncer["ports"])

    for name, service in services.items():  # bind mounts point at files in the repo
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), (name, source)
    prometheus = load_yaml(DEPLOY / "prometheus" / "prometheus.yml")
    [job] = prometheus["scrape_configs"]
    assert job["static_configs"][0]["targets"] == [f"syncer:{port}"]


# ---------------------------------------------------------------- Kubernetes
def test_kustomization_lists_every_manifest_but_the_secret_example() -> None:
    kustomization = load_yaml(KUBERNETES / "kustomization.yaml")
    manifests = {p.name for p in KUBERNETES.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == manifests - {"secret.example.yaml"}
    objects = kubernetes_objects()
    assert {"Namespace", "ServiceAccount", "ConfigMap", "Deployment", "Service", "Secret"} <= set(
        objects
    )
    assert objects["Namespace"]["metadata"]["name"] == kustomization["namespace"]
    image = objects["Deployment"]["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image in {i["name"] for i in kustomization["images"]}


def test_deployment_probes_resources_security_and_configuration() -> None:
    objects = kubernetes_objects()
    deployment, config = objects["Deployment"], objects["ConfigMap"]
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    routes = app_routes()

    port = int(config["data"]["SYNCER_HTTP_PORT"])
    assert container["ports"] == [{"name": "http", "containerPort": port, "protocol": "TCP"}]
    probes = {
        kind: container[kind]["httpGet"]
        for kind in ("startupProbe", "livenessProbe", "readinessProbe")
    }
    assert probes["livenessProbe"]["path"] == probes["startupProbe"]["path"] == "/healthz"
    assert probes["readinessProbe"]["path"] == "/readyz"
    assert all(p["path"] in routes and p["port"] == "http" for p in probes.values())

    assert container["args"] == ["run"]
    resources = container["resources"]
    assert {"cpu", "memory"} <= set(resources["requests"]) and "memory" in resources["limits"]

    uid = user_id(only(final_stage(), "USER").args)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert str(pod["securityContext"]["runAsUser"]) == uid
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["runAsNonRoot"] is True and str(security["runAsUser"]) == uid
    assert security["capabilities"]["drop"] == ["ALL"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert mounts["tmp"] == "/tmp" and "emptyDir" in volumes["tmp"]
    # `syncer run` stops within 10 s of SIGTERM; the pod must wait at least that long.
    assert pod["terminationGracePeriodSeconds"] > 10

    # The DSN comes from a Secret mounted as a file, never from the ConfigMap nor
    # the environment (SYNCER_DATABASE_URL_FILE names the file).
    assert not {"SYNCER_DATABASE_URL", "SYNCER_DATABASE_URL_FILE"} & set(config["data"])
    names = {e["name"] for e in container["env"]}
    assert "SYNCER_DATABASE_URL" not in names
    assert not any("secretKeyRef" in e.get("valueFrom", {}) for e in container["env"])
    [dsn] = [e for e in container["env"] if e["name"] == "SYNCER_DATABASE_URL_FILE"]
    directory, _, key = dsn["value"].rpartition("/")
    [mount] = [m for m in container["volumeMounts"] if m["mountPath"] == directory]
    assert mount["readOnly"] is True
    secret = objects["Secret"]
    assert volumes[mount["name"]]["secret"]["secretName"] == secret["metadata"]["name"]
    assert key in secret["stringData"]
    assert volumes[mount["name"]]["secret"]["defaultMode"] & 0o007 == 0  # not world-readable
    assert container["envFrom"] == [{"configMapRef": {"name": config["metadata"]["name"]}}]

    account = objects["ServiceAccount"]
    assert pod["serviceAccountName"] == account["metadata"]["name"]
    role = account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
    assert re.fullmatch(r"arn:aws:iam::\d{12}:role/[\w+=,.@-]+", role), role

    service = objects["Service"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(port)
    assert annotations["prometheus.io/path"] in routes


def test_every_syncer_variable_in_the_deploy_files_is_a_setting() -> None:
    compose = load_yaml(DEPLOY / "compose.yaml")
    objects = kubernetes_objects()
    container = objects["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    names = (
        set(compose["services"]["syncer"]["environment"])
        | set(objects["ConfigMap"]["data"])
        | {e["name"] for e in container["env"]}
    )
    syncer_names = {n for n in names if n.startswith(ENV_PREFIX)}
    assert len(syncer_names) > 5
    for name in syncer_names:
        assert name in known_variables(), name
    assert {n for n in names if not n.startswith(ENV_PREFIX)} <= {
        "AWS_ENDPOINT_URL",
        "AWS_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_EC2_METADATA_DISABLED",
    }


# ---------------------------------------------------------------- IAM
def test_iam_policy_grants_exactly_the_sagemaker_operations_the_code_calls() -> None:
    policy = json.loads((DEPLOY / "iam-policy.json").read_text())
    assert policy["Version"] == "2012-10-17"
    granted: dict[str, set[str]] = {}
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        assert "NotAction" not in statement and "NotResource" not in statement
        resources = statement["Resource"]
        for action in _actions(statement):
            granted.setdefault(action, set()).update(
                {resources} if isinstance(resources, str) else resources
            )
    # sts:GetCallerIdentity needs no permission, so it is not in the policy.
    assert {a for a in granted if a.startswith("sagemaker:")} == {
        f"sagemaker:{operation}" for operation in OPERATIONS
    }
    # The events queue's calls, on that queue only (the name deploy/events-queue.yaml gives it).
    queue = load_cloudformation(DEPLOY / "events-queue.yaml")["Parameters"]["QueueName"]["Default"]
    sqs = {a for a in granted if a.startswith("sqs:")}
    assert sqs == {f"sqs:{action}" for action in QUEUE_ACTIONS}
    for action in sqs:
        assert granted[action] == {f"arn:aws:sqs:*:*:{queue}"}, action
    assert set(granted) == {a for a in granted if a.startswith(("sagemaker:", "sqs:"))}


def test_trust_policy_names_the_kubernetes_service_account() -> None:
    trust = json.loads((DEPLOY / "iam-trust-policy.json").read_text())
    [statement] = trust["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    conditions = statement["Condition"]["StringEquals"]
    subject = next(v for k, v in conditions.items() if k.endswith(":sub"))
    namespace = load_yaml(KUBERNETES / "kustomization.yaml")["namespace"]
    account = kubernetes_objects()["ServiceAccount"]["metadata"]["name"]
    assert subject == f"system:serviceaccount:{namespace}:{account}"
    assert next(v for k, v in conditions.items() if k.endswith(":aud")) == "sts.amazonaws.com"


def _actions(statement: dict[str, Any], conditions: dict[str, bool] | None = None) -> set[str]:
    """The actions a statement grants, CloudFormation's Fn::If resolved by ``conditions``."""
    granted = statement["Action"]
    actions: set[str] = set()
    for item in [granted] if isinstance(granted, str) else granted:
        if isinstance(item, dict):  # {"Fn::If": [condition, then, else]}
            condition, then, otherwise = item["Fn::If"]
            item = then if (conditions or {})[condition] else otherwise
        if isinstance(item, str):  # {"Ref": "AWS::NoValue"}: nothing
            actions.add(item)
    return actions


def _member_conditions(template: dict[str, Any], **parameters: str) -> dict[str, bool]:
    """The template's conditions for these parameter values (defaults otherwise)."""
    values = {k: v.get("Default") for k, v in template["Parameters"].items()} | parameters
    resolved = {}
    for name, expression in template["Conditions"].items():
        negate = "Fn::Not" in expression
        [left, right] = (expression["Fn::Not"][0] if negate else expression)["Fn::Equals"]
        equal = values[left["Ref"]] == right
        resolved[name] = equal != negate
    return resolved


def test_member_role_template_grants_exactly_the_operations_and_trusts_the_syncer() -> None:
    template = load_yaml(DEPLOY / "member-role.yaml")
    assert template["AWSTemplateFormatVersion"] == "2010-09-09"
    [role] = template["Resources"].values()
    assert role["Type"] == "AWS::IAM::Role"
    properties = role["Properties"]
    assert properties["RoleName"] == {"Ref": "RoleName"}
    # Permissions: exactly what the code calls, the same as deploy/iam-policy.json;
    # without Search when AllowSearch is false (the feed and the details off).
    [policy] = properties["Policies"]
    statements = policy["PolicyDocument"]["Statement"]
    assert all(s["Effect"] == "Allow" and "NotAction" not in s for s in statements)
    everything = {f"sagemaker:{operation}" for operation in OPERATIONS}
    for allow, expected in (("true", everything), ("false", everything - {"sagemaker:Search"})):
        conditions = _member_conditions(template, AllowSearch=allow)
        actions = set().union(*(_actions(s, conditions) for s in statements))
        assert actions == expected, allow
    assert not properties.get("ManagedPolicyArns")
    # Trust: only the syncer's principal, given as a parameter; with the ExternalId
    # parameter set, only with that ExternalId (SYNCER_EXTERNAL_ID).
    [trust] = properties["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Effect"] == "Allow" and trust["Action"] == "sts:AssumeRole"
    assert trust["Principal"] == {"AWS": {"Ref": "SyncerPrincipalArn"}}
    assert template["Parameters"]["SyncerPrincipalArn"]["Type"] == "String"
    condition, required, absent = trust["Condition"]["Fn::If"]
    assert required == {"StringEquals": {"sts:ExternalId": {"Ref": "ExternalId"}}}
    assert absent == {"Ref": "AWS::NoValue"}
    assert _member_conditions(template, ExternalId="ext-42")[condition] is True
    assert _member_conditions(template)[condition] is False
    pattern = template["Parameters"]["ExternalId"]["AllowedPattern"]
    assert re.fullmatch(pattern, "") and re.fullmatch(pattern, "ext-42")
    assert Settings.model_fields["external_id"].metadata  # the same rule, in the service
    # StackSets-ready: nothing account- or region-specific is written into it.
    text = (DEPLOY / "member-role.yaml").read_text()
    assert not re.search(r"\b\d{12}\b", text), "a literal account id"
    assert not re.search(r"\b[a-z]{2}-[a-z]+-\d\b", text), "a literal region"


def test_syncer_policy_discovers_accounts_and_assumes_only_the_member_role() -> None:
    policy = json.loads((DEPLOY / "syncer-policy.json").read_text())
    role_name = load_yaml(DEPLOY / "member-role.yaml")["Parameters"]["RoleName"]["Default"]
    granted: dict[str, set[str]] = {}
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        resources = statement["Resource"]
        for action in _actions(statement):
            granted.setdefault(action, set()).update(
                {resources} if isinstance(resources, str) else resources
            )
    assert set(granted) == {
        *(f"organizations:{operation}" for operation in ORGANIZATIONS_OPERATIONS),
        "sts:AssumeRole",
    }
    assert granted["sts:AssumeRole"] == {f"arn:aws:iam::*:role/{role_name}"}
    # Only roles of the syncer's own organization, whatever account ids are named.
    [assume] = [s for s in policy["Statement"] if "sts:AssumeRole" in _actions(s)]
    assert assume["Condition"] == {"StringEquals": {"aws:ResourceOrgID": "${aws:PrincipalOrgID}"}}


# ---------------------------------------------------------------- events
def load_cloudformation(path: Path) -> Any:
    """A template written in the long forms (Ref:, Fn::GetAtt:), which YAML reads as is."""
    return load_yaml(path)


def assert_stacksets_ready(path: Path) -> None:
    text = path.read_text()
    assert not re.search(r"\b\d{12}\b", text), f"{path.name}: a literal account id"
    assert not re.search(r"\b[a-z]{2}-[a-z]+-\d\b", text), f"{path.name}: a literal region"


def test_member_template_forwards_what_the_service_reads_to_the_central_bus() -> None:
    template = load_cloudformation(DEPLOY / "events-member.yaml")
    assert template["AWSTemplateFormatVersion"] == "2010-09-09"
    assert_stacksets_ready(DEPLOY / "events-member.yaml")
    resources = template["Resources"]
    rules = {k: r for k, r in resources.items() if r["Type"] == "AWS::Events::Rule"}
    patterns = {k: r["Properties"]["EventPattern"] for k, r in rules.items()}
    assert patterns["PackageStateChangeRule"] == {
        "source": ["aws.sagemaker"],
        "detail-type": [PACKAGE_STATE_CHANGE],
    }
    deletes = patterns["DeleteCallRule"]
    assert deletes["detail-type"] == [API_CALL]
    assert deletes["detail"]["eventName"] == [DELETE_PACKAGE, DELETE_GROUP]
    assert rules["DeleteCallRule"]["Condition"] == "DeleteCalls"  # optional: needs a trail
    for rule in rules.values():
        assert rule["Properties"]["EventBusName"] == "default"
        [target] = rule["Properties"]["Targets"]
        assert target["Arn"] == {"Ref": "CentralEventBusArn"}
        assert target["RoleArn"] == {"Fn::GetAtt": ["ForwardRole", "Arn"]}
    role = resources["ForwardRole"]["Properties"]
    assert "RoleName" not in role  # one per region of an account: names would collide
    [policy] = role["Policies"]
    [statement] = policy["PolicyDocument"]["Statement"]
    assert _actions(statement) == {"events:PutEvents"}
    assert statement["Resource"] == {"Ref": "CentralEventBusArn"}


def test_queue_template_admits_only_its_rule_and_has_a_dead_letter_queue() -> None:
    template = load_cloudformation(DEPLOY / "events-queue.yaml")
    assert_stacksets_ready(DEPLOY / "events-queue.yaml")
    resources = template["Resources"]
    queue = resources["Queue"]["Properties"]
    assert queue["QueueName"] == {"Ref": "QueueName"}
    assert queue["ReceiveMessageWaitTimeSeconds"] == 20
    redrive = queue["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}
    assert redrive["maxReceiveCount"] == {"Ref": "MaxReceiveCount"}
    assert resources["DeadLetterQueue"]["Type"] == "AWS::SQS::Queue"

    rule = resources["QueueRule"]["Properties"]
    assert rule["EventBusName"] == {"Ref": "EventBus"}
    assert rule["EventPattern"]["detail-type"] == [PACKAGE_STATE_CHANGE, API_CALL]
    [target] = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["Queue", "Arn"]}

    [statement] = resources["OnlyTheRuleMaySend"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Allow" and statement["Action"] == "sqs:SendMessage"
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Condition"] == {
        "ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["QueueRule", "Arn"]}}
    }
    bus = resources["OrganizationMayPut"]["Properties"]["Statement"]
    assert bus["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": {"Ref": "OrganizationId"}}}
    assert template["Outputs"]["QueueUrl"]["Value"] == {"Ref": "Queue"}


# ---------------------------------------------------------------- monitoring
def test_alert_rules_use_only_exposed_metrics() -> None:
    exposed = exposed_metric_names()
    rules = [
        r
        for group in load_yaml(DEPLOY / "prometheus" / "alerts.yaml")["groups"]
        for r in group["rules"]
    ]
    assert len(rules) >= 5
    used: set[str] = set()
    for rule in rules:
        assert rule["alert"] and rule["expr"] and rule["labels"]["severity"], rule
        assert rule["annotations"]["summary"], rule
        used |= metric_names_in(rule["expr"])
    assert used <= exposed, used - exposed
    jobs = {
        load_yaml(DEPLOY / "prometheus" / name)["scrape_configs"][0]["job_name"]
        for name in ("prometheus.yml", "scrape-kubernetes.yaml")
    }
    assert jobs == {"registry-sync"}
    assert any('up{job="registry-sync"}' in r["expr"] for r in rules)


def test_dashboard_queries_only_exposed_metrics_and_covers_the_main_ones() -> None:
    exposed = exposed_metric_names()
    dashboard = json.loads((DEPLOY / "grafana" / "registry-sync.json").read_text())
    assert dashboard["uid"] and dashboard["panels"]
    used: set[str] = set()
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            used |= metric_names_in(target["expr"])
    assert used <= exposed, used - exposed
    for family in (
        "syncer_cycles_total",
        "syncer_cycle_duration_seconds_bucket",
        "syncer_scopes_total",
        "syncer_rows_total",
        "syncer_api_calls_total",
        "syncer_api_throttles_total",
        "syncer_watermark_lag_seconds",
        "syncer_api_allowed_rate",
        "syncer_api_target_throttles_total",
        "syncer_feature_up",
        "syncer_events_applied_total",
        "syncer_events_dropped_total",
        "syncer_events_lag_seconds_bucket",
        "syncer_events_queue_up",
    ):
        assert family in used, family
    provisioning = DEPLOY / "grafana" / "provisioning"
    assert load_yaml(provisioning / "datasources" / "prometheus.yaml")["datasources"]
    assert load_yaml(provisioning / "dashboards" / "registry-sync.yaml")["providers"]


# ---------------------------------------------------------------- docs
def test_the_docs_index_points_at_the_deploy_files() -> None:
    readme = (ROOT / "docs" / "index.md").read_text()
    assert "## Operations" in readme
    assert readme.index("## Operations") < readme.index("## Development")
    operations = readme[readme.index("## Operations") : readme.index("## Development")]
    for path in (
        "deploy/compose.yaml",
        "deploy/kubernetes",
        "deploy/iam-policy.json",
        "deploy/iam-trust-policy.json",
        "deploy/member-role.yaml",
        "deploy/syncer-policy.json",
        "deploy/events-queue.yaml",
        "deploy/events-member.yaml",
        "SYNCER_EVENTS_QUEUE_URL",
        "SYNCER_ORGANIZATION_ROLE_NAME",
        "deploy/prometheus/alerts.yaml",
        "deploy/prometheus/scrape-kubernetes.yaml",
        "deploy/grafana/registry-sync.json",
        "sagemaker_reader",
        "syncer migrate",
    ):
        assert path in operations, path
