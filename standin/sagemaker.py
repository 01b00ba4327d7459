"""A small SageMaker stand-in (aiohttp, AWS JSON 1.1) for what moto lacks.

moto has no deletions, life-cycle stages, registration types, BatchDescribe,
a Search that filters or sorts packages on LastModifiedTime, throttling,
faults or controllable clocks, and no Search on models (moto refuses it) to
say where each version runs. This server speaks the same wire protocol as
SageMaker for the model-registry calls and the hosting calls behind
deployments (CreateModel, CreateEndpointConfig, Create/Update/DeleteEndpoint,
Search on Model and Endpoint), so botocore, aiobotocore and boto3 talk to it
unchanged; the listing tests run against moto and this server alike, which
keeps it honest.

Used by the tests, the benchmarks (bench/) and deploy/compose.yaml.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

ACCOUNT = "123456789012"
# Any keys do: the stand-in checks no signature.
CREDENTIALS = ("testing", "testing")
REGION = "us-east-1"
JSON_11 = "application/x-amz-json-1.1"


def _now_ms() -> float:
    return round(time.time(), 3)


def epoch(value: datetime | float) -> float:
    if isinstance(value, datetime):
        return round(value.timestamp(), 6)
    return float(value)


class ApiError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


@dataclass
class Package:
    arn: str
    group: str | None
    version: int | None
    name: str | None
    created: float  # epoch seconds (ms precision unless a test asks otherwise)
    approval: str | None = "PendingManualApproval"
    status: str = "Completed"
    description: str | None = None
    life_cycle: dict[str, str] | None = None
    registration_type: str | None = None
    visible_at: float = 0.0  # eventual consistency: hidden from listings until then
    extra: dict[str, Any] = field(default_factory=dict)  # raw fields for odd-data tests
    modified: float = 0.0
    # Governance details: in Search and Describe records, never in list summaries.
    created_by: dict[str, Any] = field(default_factory=dict)
    modified_by: dict[str, Any] | None = None
    approval_description: str | None = None
    tags: list[dict[str, str]] = field(default_factory=list)  # Search only (not Describe)
    # InferenceSpecification etc.; None: what a pipeline registers (built when read).
    governance: dict[str, Any] | None = None
    # When the search index last took the package up: the registry's mutation
    # count and the wall clock at its last change (see Faults.search_lag_*).
    touched: int = 0
    touched_at: float = 0.0

    @property
    def last_modified(self) -> float:
        """LastModifiedTime: the creation time until the package is first updated."""
        return self.modified or self.created

    def summary(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "ModelPackageArn": self.arn,
            "CreationTime": self.created,
            "ModelPackageStatus": self.status,
        }
        if self.group is not None:
            item["ModelPackageGroupName"] = self.group
            item["ModelPackageVersion"] = self.version
        if self.name is not None:
            item["ModelPackageName"] = self.name
        if self.description is not None:
            item["ModelPackageDescription"] = self.description
        if self.approval is not None:
            item["ModelApprovalStatus"] = self.approval
        if self.life_cycle is not None:
            item["ModelLifeCycle"] = dict(self.life_cycle)
        if self.registration_type is not None:
            item["ModelPackageRegistrationType"] = self.registration_type
        item.update(self.extra)
        return item

    def described(self) -> dict[str, Any]:
        """As DescribeModelPackage returns it: the details too, except Tags."""
        item = self.summary()
        item["LastModifiedTime"] = self.last_modified
        item.setdefault("ModelPackageName", self.group or self.name)
        item.update(default_governance(self.arn) if self.governance is None else self.governance)
        if self.created_by:
            item["CreatedBy"] = self.created_by
        if self.modified_by:
            item["LastModifiedBy"] = self.modified_by
        if self.approval_description is not None:
            item["ApprovalDescription"] = self.approval_description
        return item

    def searched(self) -> dict[str, Any]:
        """As Search returns it: the whole package, more than a summary holds."""
        item = self.described()
        item["Tags"] = [dict(t) for t in self.tags]
        return item


@dataclass
class Group:
    arn: str
    name: str
    created: float
    description: str | None = None
    status: str = "Completed"
    next_version: int = 1
    created_by: dict[str, Any] = field(default_factory=dict)
    tags: list[dict[str, str]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "ModelPackageGroupName": self.name,
            "ModelPackageGroupArn": self.arn,
            "CreationTime": self.created,
            "ModelPackageGroupStatus": self.status,
        }
        if self.description is not None:
            item["ModelPackageGroupDescription"] = self.description
        return item

    def searched(self) -> dict[str, Any]:
        item = self.summary()
        if self.created_by:
            item["CreatedBy"] = self.created_by
        item["Tags"] = [dict(t) for t in self.tags]
        return item


@dataclass
class Model:
    """A CreateModel: one container (PrimaryContainer) or an inference pipeline (Containers)."""

    arn: str
    name: str
    created: float
    containers: list[dict[str, Any]]
    pipeline: bool = False  # sent as Containers rather than PrimaryContainer
    execution_role_arn: str = ""
    tags: list[dict[str, str]] = field(default_factory=list)

    def described(self) -> dict[str, Any]:
        """The Model of a ModelDashboardModel record (DescribeModel's fields)."""
        item: dict[str, Any] = {
            "ModelName": self.name,
            "ModelArn": self.arn,
            "CreationTime": self.created,
            "ExecutionRoleArn": self.execution_role_arn,
            "EnableNetworkIsolation": False,
            "Tags": [dict(t) for t in self.tags],
        }
        if self.pipeline:
            item["Containers"] = [dict(c) for c in self.containers]
            item["InferenceExecutionConfig"] = {"Mode": "Serial"}
        else:
            item["PrimaryContainer"] = dict(self.containers[0])
        return item


@dataclass
class EndpointConfig:
    arn: str
    name: str
    created: float
    variants: list[dict[str, Any]]  # ProductionVariants as sent: VariantName, ModelName, ...

    @property
    def model_names(self) -> list[str]:
        return [v["ModelName"] for v in self.variants if v.get("ModelName")]


@dataclass
class Endpoint:
    arn: str
    name: str
    config: EndpointConfig
    created: float
    modified: float
    status: str = "InService"
    tags: list[dict[str, str]] = field(default_factory=list)

    def dashboard(self) -> dict[str, Any]:
        """As a ModelDashboardModel's Endpoints list holds it."""
        return {
            "EndpointName": self.name,
            "EndpointArn": self.arn,
            "CreationTime": self.created,
            "LastModifiedTime": self.modified,
            "EndpointStatus": self.status,
        }

    def searched(self, models: dict[str, Model]) -> dict[str, Any]:
        """As Search(Resource="Endpoint") returns it: its variants name no model (the
        API's ProductionVariantSummary has no ModelName), only the images deployed."""
        variants = []
        for variant in self.config.variants:
            model = models.get(variant.get("ModelName", ""))
            images = [c["Image"] for c in model.containers if c.get("Image")] if model else []
            weight = float(variant.get("InitialVariantWeight", 1.0))
            count = int(variant.get("InitialInstanceCount", 1))
            variants.append(
                {
                    "VariantName": variant.get("VariantName", "AllTraffic"),
                    "DeployedImages": [
                        {"SpecifiedImage": i, "ResolvedImage": i, "ResolutionTime": self.modified}
                        for i in images
                    ],
                    "CurrentWeight": weight,
                    "DesiredWeight": weight,
                    "CurrentInstanceCount": count,
                    "DesiredInstanceCount": count,
                }
            )
        return {
            "EndpointName": self.name,
            "EndpointArn": self.arn,
            "EndpointConfigName": self.config.name,
            "ProductionVariants": variants,
            "EndpointStatus": self.status,
            "CreationTime": self.created,
            "LastModifiedTime": self.modified,
            "Tags": [dict(t) for t in self.tags],
        }


# CreateModelPackage fields that only Search and Describe return.
GOVERNANCE_KEYS = (
    "InferenceSpecification",
    "CustomerMetadataProperties",
    "ModelMetrics",
    "DriftCheckBaselines",
    "SourceUri",
    "Domain",
    "Task",
    "SamplePayloadUrl",
    "ModelCard",
)


def user(name: str, account: str = "123456789012") -> dict[str, Any]:
    """A UserContext as SageMaker records it: an assumed role's session and a Studio profile."""
    return {
        "UserProfileName": name,
        "DomainId": "d-standin",
        "IamIdentity": {
            "Arn": f"arn:aws:sts::{account}:assumed-role/SageMakerUser/{name}",
            "PrincipalId": f"AROASTANDIN:{name}",
        },
    }


def default_governance(arn: str) -> dict[str, Any]:
    """What a package registered by a pipeline carries: one container and its artifact."""
    key = arn.rsplit(":", 1)[-1].split("/", 1)[-1]
    return {
        "InferenceSpecification": {
            "Containers": [
                {
                    "Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/standin:latest",
                    "ModelDataUrl": f"s3://standin-models/{key}/model.tar.gz",
                }
            ],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        }
    }


class Registry:
    """The registry's state. Thread-safe: tests mutate it while the server lists it."""

    def __init__(
        self,
        account_id: str = ACCOUNT,
        region: str = REGION,
        clock: Callable[[], float] = _now_ms,
    ) -> None:
        self.account_id = account_id
        self.region = region
        self.clock = clock
        self.groups: dict[str, Group] = {}
        self.packages: dict[str, Package] = {}
        # Hosting: models, endpoint configurations and endpoints, by name.
        self.models: dict[str, Model] = {}
        self.endpoint_configs: dict[str, EndpointConfig] = {}
        self.endpoints: dict[str, Endpoint] = {}
        self.lock = threading.RLock()
        self.mutations = 0  # package creations and updates so far

    def _touch(self, package: Package) -> None:
        self.mutations += 1
        package.touched, package.touched_at = self.mutations, time.time()

    def _arn(self, kind: str, name: str) -> str:
        return f"arn:aws:sagemaker:{self.region}:{self.account_id}:{kind}/{name}"

    # ---- mutations (also reachable through the API)
    def create_group(
        self,
        name: str,
        description: str | None = None,
        created: float | None = None,
        *,
        created_by: str = "standin",
        tags: dict[str, str] | None = None,
    ) -> str:
        with self.lock:
            if name in self.groups:
                raise ApiError("ValidationException", f"Model Package Group {name} already exists")
            arn = self._arn("model-package-group", name.lower())
            group = Group(arn, name, created or self.clock(), description)
            group.created_by = user(created_by, self.account_id)
            group.tags = [{"Key": k, "Value": v} for k, v in (tags or {}).items()]
            self.groups[name] = group
            return arn

    def create_package(
        self,
        group: str | None = None,
        *,
        name: str | None = None,
        approval: str | None = "PendingManualApproval",
        created: float | None = None,
        status: str = "Completed",
        description: str | None = None,
        life_cycle: dict[str, str] | None = None,
        registration_type: str | None = None,
        visible_after: float = 0.0,
        extra: dict[str, Any] | None = None,
        created_by: str = "standin",
        tags: dict[str, str] | None = None,
        governance: dict[str, Any] | None = None,
    ) -> str:
        with self.lock:
            when = self.clock() if created is None else created
            if group is not None:
                g = self.groups.get(group)
                if g is None:
                    raise ApiError("ValidationException", f"Model Package Group {group} not found")
                version = g.next_version
                g.next_version += 1
                arn = self._arn("model-package", f"{group.lower()}/{version}")
                pkg = Package(arn, group, version, None, when, approval, status, description)
            else:
                if not name:
                    raise ApiError("ValidationException", "ModelPackageName is required")
                arn = self._arn("model-package", name.lower())
                pkg = Package(arn, None, None, name, when, None, status, description)
            pkg.life_cycle = life_cycle
            pkg.registration_type = registration_type
            pkg.visible_at = time.time() + visible_after
            pkg.extra = dict(extra or {})
            pkg.modified = when
            pkg.created_by = user(created_by, self.account_id)
            pkg.modified_by = pkg.created_by
            pkg.tags = [{"Key": k, "Value": v} for k, v in (tags or {}).items()]
            pkg.governance = None if governance is None else dict(governance)
            self._touch(pkg)
            self.packages[arn] = pkg
            return arn

    def update_package(
        self,
        arn: str,
        *,
        approval: str | None = None,
        life_cycle: dict[str, str] | None = None,
        status: str | None = None,
        by: str = "standin",
        approval_description: str | None = None,
        governance: dict[str, Any] | None = None,
    ) -> None:
        """An UpdateModelPackage: moves LastModifiedTime and sets LastModifiedBy."""
        with self.lock:
            pkg = self._package(arn)
            if approval is not None:
                pkg.approval = approval
                pkg.approval_description = approval_description
            if life_cycle is not None:
                pkg.life_cycle = life_cycle
            if status is not None:
                pkg.status = status
            if governance is not None:
                base = default_governance(arn) if pkg.governance is None else pkg.governance
                pkg.governance = {**base, **governance}
            pkg.modified_by = user(by, self.account_id)
            pkg.modified = max(self.clock(), pkg.modified + 0.001)
            self._touch(pkg)

    def tag_package(self, arn: str, tags: dict[str, str]) -> None:
        """An AddTags: LastModifiedTime does not move (so the change feed cannot see it)."""
        with self.lock:
            pkg = self._package(arn)
            kept = [t for t in pkg.tags if t["Key"] not in tags]
            pkg.tags = kept + [{"Key": k, "Value": v} for k, v in tags.items()]

    def delete_package(self, arn: str) -> None:
        with self.lock:
            self._package(arn)
            del self.packages[arn]

    def delete_group(self, name: str) -> None:
        with self.lock:
            if name not in self.groups:
                raise ApiError("ValidationException", f"Model Package Group {name} not found")
            if any(p.group == name for p in self.packages.values()):
                raise ApiError(
                    "ConflictException", f"Model Package Group {name} still has model packages"
                )
            del self.groups[name]

    def _package(self, name_or_arn: str) -> Package:
        pkg = self.packages.get(name_or_arn)
        if pkg is None:
            for candidate in self.packages.values():
                if candidate.name == name_or_arn:
                    return candidate
            raise ApiError("ValidationException", f"Model package {name_or_arn} not found")
        return pkg

    # ---- hosting (also reachable through the API)
    def create_model(
        self,
        name: str,
        containers: list[dict[str, Any]],
        *,
        pipeline: bool | None = None,
        created: float | None = None,
        tags: dict[str, str] | None = None,
        execution_role_arn: str | None = None,
    ) -> str:
        """A model of one container, or an inference pipeline of several. A container
        may name a package (``ModelPackageName``: a name, a versioned ARN, or an ARN
        of another account), which is not checked here: a package of another account
        is not in this registry."""
        with self.lock:
            if name in self.models:
                raise ApiError("ValidationException", f"Cannot create existing model {name}")
            if not containers:
                raise ApiError("ValidationException", "a model needs a container")
            arn = self._arn("model", name.lower())
            self.models[name] = Model(
                arn,
                name,
                self.clock() if created is None else created,
                [dict(c) for c in containers],
                pipeline=len(containers) > 1 if pipeline is None else pipeline,
                execution_role_arn=execution_role_arn
                or f"arn:aws:iam::{self.account_id}:role/SageMakerExecution",
                tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()],
            )
            return arn

    def delete_model(self, name: str) -> None:
        """A DeleteModel: endpoints that run it keep running, as in SageMaker."""
        with self.lock:
            if self.models.pop(name, None) is None:
                raise ApiError("ValidationException", f"Could not find model {name}")

    def create_endpoint_config(self, name: str, models: list[str]) -> str:
        """One production variant per model, as CreateEndpointConfig takes them."""
        with self.lock:
            if name in self.endpoint_configs:
                raise ApiError(
                    "ValidationException", f"Cannot create already existing endpoint config {name}"
                )
            missing = [m for m in models if m not in self.models]
            if missing or not models:
                raise ApiError("ValidationException", f"Could not find model {missing or models}")
            variants = [
                {
                    "VariantName": f"variant-{i}" if len(models) > 1 else "AllTraffic",
                    "ModelName": model,
                    "InstanceType": "ml.m5.large",
                    "InitialInstanceCount": 1,
                    "InitialVariantWeight": 1.0,
                }
                for i, model in enumerate(models)
            ]
            arn = self._arn("endpoint-config", name.lower())
            self.endpoint_configs[name] = EndpointConfig(arn, name, self.clock(), variants)
            return arn

    def create_endpoint(self, name: str, config: str, *, status: str = "InService") -> str:
        """Created and in service at once (SageMaker takes minutes: Creating first)."""
        with self.lock:
            if name in self.endpoints:
                raise ApiError(
                    "ValidationException", f"Cannot create already existing endpoint {name}"
                )
            when = self.clock()
            arn = self._arn("endpoint", name.lower())
            endpoint = Endpoint(arn, name, self._config(config), when, when, status)
            self.endpoints[name] = endpoint
            return arn

    def update_endpoint(self, name: str, config: str) -> None:
        """An UpdateEndpoint: the endpoint runs the new configuration's models from now on."""
        with self.lock:
            endpoint = self._endpoint(name)
            endpoint.config = self._config(config)
            endpoint.modified = max(self.clock(), endpoint.modified + 0.001)

    def set_endpoint_status(self, name: str, status: str) -> None:
        with self.lock:
            endpoint = self._endpoint(name)
            endpoint.status = status
            endpoint.modified = max(self.clock(), endpoint.modified + 0.001)

    def delete_endpoint(self, name: str) -> None:
        with self.lock:
            self._endpoint(name)
            del self.endpoints[name]

    def deploy(self, endpoint: str, *models: str) -> str:
        """Run ``models`` on ``endpoint``: a new configuration, then CreateEndpoint or
        UpdateEndpoint. Returns the endpoint's ARN."""
        with self.lock:
            config = f"{endpoint}-config-{len(self.endpoint_configs)}"
            self.create_endpoint_config(config, list(models))
            if endpoint in self.endpoints:
                self.update_endpoint(endpoint, config)
                return self.endpoints[endpoint].arn
            return self.create_endpoint(endpoint, config)

    def hosting(self, model: Model) -> list[Endpoint]:
        """The endpoints whose configuration runs the model (ModelDashboardModel.Endpoints)."""
        return [e for e in self.endpoints.values() if model.name in e.config.model_names]

    def _config(self, name: str) -> EndpointConfig:
        config = self.endpoint_configs.get(name)
        if config is None:
            raise ApiError("ValidationException", f"Could not find endpoint configuration {name}")
        return config

    def _endpoint(self, name: str) -> Endpoint:
        endpoint = self.endpoints.get(name)
        if endpoint is None:
            raise ApiError("ValidationException", f"Could not find endpoint {name}")
        return endpoint


@dataclass
class Faults:
    """What can go wrong, per server. All probabilities draw from one seeded RNG."""

    latency_seconds: float = 0.0
    rate_limit_per_second: float | None = None  # token bucket; excess -> ThrottlingException
    error_rate: float = 0.0  # share of requests answered 500/503
    # At most this many injected 500/503 answers for the same request (operation
    # and body), so a burst cannot outlast a client's retries by chance.
    error_repeats: int | None = None
    throttle_rate: float = 0.0  # share answered ThrottlingException regardless of rate
    malformed_rate: float = 0.0  # share answered with a truncated JSON body
    repeat_token_for: set[str] = field(default_factory=set)  # groups whose NextToken loops
    empty_pages_with_token: int = 0  # leading empty pages (with a token) per listing
    fail_groups: set[str] = field(default_factory=set)  # groups answered 500 always
    slow_groups: dict[str, float] = field(default_factory=dict)  # group -> seconds per call
    malformed_groups: set[str] = field(default_factory=set)  # groups answered a truncated body
    # Operations answered AccessDeniedException ("Search:Model": Search on that resource only).
    deny_operations: set[str] = field(default_factory=set)
    deny_message: str = ""  # the AccessDeniedException's message, if not the default
    deny_code: str = "AccessDeniedException"  # or another client error the denial answers
    reject_operations: set[str] = field(default_factory=set)  # answered ValidationException
    # The search index: a package shows in Search only this many seconds after its
    # last change, or only once this many package creations and updates came
    # after it (a lag in steps, for deterministic tests); some never show; and
    # "blind" range filters match nothing (as moto's do).
    search_lag_seconds: float = 0.0
    search_lag_updates: int = 0
    search_missing: set[str] = field(default_factory=set)  # ARNs the index never has
    search_blind: bool = False
    seed: int = 0


class TokenBucket:
    """Holds one second of ``rate``, full at the start."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.rate, self.tokens, self.stamp = rate, rate, clock()

    def take(self) -> bool:
        now = self._clock()
        self.tokens = min(self.rate, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class StandIn:
    """The HTTP face of a Registry, with faults and call counters."""

    def __init__(self, registry: Registry, faults: Faults | None = None) -> None:
        self.registry = registry
        self.faults = faults or Faults()  # also seeds the fault draws
        self.calls: Counter[str] = Counter()  # by operation, every request
        self.requests: list[tuple[str, dict[str, Any]]] = []  # (operation, body), in order
        self.assumed: list[dict[str, str]] = []  # each sts:AssumeRole request's form
        self.outcomes: Counter[str] = Counter()  # ok, throttled, error, malformed
        self._page_cursor: dict[str, int] = {}

    @property
    def faults(self) -> Faults:
        return self._faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        """New faults start their own seeded draws and a full rate-limit bucket."""
        self._faults = faults
        self._rng = random.Random(faults.seed)
        self._injected: Counter[tuple[str, str]] = Counter()
        self._bucket: TokenBucket | None = None

    def reset_counters(self) -> None:
        self.calls.clear()
        self.outcomes.clear()
        self.requests.clear()

    def app(self) -> web.Application:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_post("/", self.handle)
        app.router.add_get("/health", self.health)
        return app

    async def health(self, _: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def handle(self, request: web.Request) -> web.StreamResponse:
        target = request.headers.get("X-Amz-Target", "")
        if not target:
            return await self._sts(request)
        operation = target.split(".", 1)[-1]
        self.calls[operation] += 1
        faults = self.faults
        if faults.latency_seconds:
            await asyncio.sleep(faults.latency_seconds)
        # Every request is recorded, those answered with an injected fault too.
        body = json.loads(await request.read() or b"{}")
        self.requests.append((operation, body))
        if faults.rate_limit_per_second:
            if self._bucket is None or self._bucket.rate != faults.rate_limit_per_second:
                self._bucket = TokenBucket(faults.rate_limit_per_second)
            if not self._bucket.take():
                return self._error(ApiError("ThrottlingException", "Rate exceeded"), "throttled")
        if faults.throttle_rate and self._rng.random() < faults.throttle_rate:
            return self._error(ApiError("ThrottlingException", "Rate exceeded"), "throttled")
        if faults.error_rate and self._rng.random() < faults.error_rate:
            key = (operation, json.dumps(body, sort_keys=True))
            if faults.error_repeats is None or self._injected[key] < faults.error_repeats:
                self._injected[key] += 1
                status = self._rng.choice((500, 503))
                return self._error(ApiError("InternalFailure", "injected", status), "error")
        try:
            group = body.get("ModelPackageGroupName")
            if group in faults.slow_groups:
                await asyncio.sleep(faults.slow_groups[group])
            # "Search:Model" stands for Search on one resource (Search:ModelPackage, ...).
            names = {operation, f"{operation}:{body.get('Resource')}"}
            if names & faults.reject_operations:
                raise ApiError("ValidationException", f"{operation}: invalid request")
            if names & faults.deny_operations:
                message = faults.deny_message or f"not authorized to perform {operation}"
                raise ApiError(faults.deny_code, message)
            handler = getattr(self, f"op_{operation}", None)
            if handler is None:
                raise ApiError("UnknownOperationException", f"{operation} not implemented")
            result = handler(body)
        except ApiError as exc:
            return self._error(exc, "error" if exc.status >= 500 else "client_error")
        text = json.dumps(result)
        truncate = group in faults.malformed_groups
        if truncate or (faults.malformed_rate and self._rng.random() < faults.malformed_rate):
            self.outcomes["malformed"] += 1
            return web.Response(text=text[: len(text) // 2], content_type=JSON_11)
        self.outcomes["ok"] += 1
        return web.Response(text=text, content_type=JSON_11)

    def _error(self, exc: ApiError, outcome: str) -> web.Response:
        self.outcomes[outcome] += 1
        return web.Response(
            status=exc.status,
            text=json.dumps({"__type": exc.code, "message": exc.message}),
            content_type=JSON_11,
            headers={"x-amzn-ErrorType": exc.code},
        )

    async def _sts(self, request: web.Request) -> web.Response:
        form = await request.post()
        action = form.get("Action")
        self.calls[f"sts:{action}"] += 1
        if action == "AssumeRole":
            return self._assume_role({k: str(v) for k, v in form.items()})
        if action != "GetCallerIdentity":
            return web.Response(status=400, text="unsupported")
        account = self.registry.account_id
        xml = (
            '<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
            "<GetCallerIdentityResult>"
            f"<Arn>arn:aws:iam::{account}:user/standin</Arn>"
            "<UserId>AIDASTANDIN</UserId>"
            f"<Account>{account}</Account>"
            "</GetCallerIdentityResult>"
            "<ResponseMetadata><RequestId>standin</RequestId></ResponseMetadata>"
            "</GetCallerIdentityResponse>"
        )
        return web.Response(text=xml, content_type="text/xml")

    def _assume_role(self, form: dict[str, str]) -> web.Response:
        """sts:AssumeRole, recorded (``assumed``) with its RoleSessionName and ExternalId."""
        self.assumed.append(form)
        account = form["RoleArn"].split(":")[4]
        role = form["RoleArn"].rsplit("/", 1)[-1]
        expires = datetime.fromtimestamp(time.time() + 3600, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        xml = (
            '<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
            "<AssumeRoleResult><Credentials>"
            "<AccessKeyId>ASIASTANDIN</AccessKeyId>"
            "<SecretAccessKey>standin-assumed-secret</SecretAccessKey>"
            "<SessionToken>standin-assumed-token</SessionToken>"
            f"<Expiration>{expires}</Expiration>"
            "</Credentials><AssumedRoleUser>"
            f"<Arn>arn:aws:sts::{account}:assumed-role/{role}/{form.get('RoleSessionName')}</Arn>"
            "<AssumedRoleId>AROASTANDIN:session</AssumedRoleId>"
            "</AssumedRoleUser></AssumeRoleResult>"
            "<ResponseMetadata><RequestId>standin</RequestId></ResponseMetadata>"
            "</AssumeRoleResponse>"
        )
        return web.Response(text=xml, content_type="text/xml")

    # ---- pagination
    def _page(self, items: list[Any], body: dict[str, Any], key: str, scope: str) -> dict[str, Any]:
        limit = int(body.get("MaxResults") or 100)
        if not 1 <= limit <= 100:
            raise ApiError("ValidationException", "MaxResults must be between 1 and 100")
        token = body.get("NextToken")
        offset = 0
        if token:
            try:
                decoded = json.loads(base64.b64decode(token))
                offset, empties = int(decoded["o"]), int(decoded.get("e", 0))
            except (ValueError, KeyError, TypeError):
                raise ApiError("ValidationException", "Invalid pagination token") from None
        else:
            empties = 0
        if empties < self.faults.empty_pages_with_token:
            nxt = base64.b64encode(json.dumps({"o": offset, "e": empties + 1}).encode()).decode()
            return {key: [], "NextToken": nxt}
        page = items[offset : offset + limit]
        result: dict[str, Any] = {key: page}
        if scope in self.faults.repeat_token_for:
            result["NextToken"] = base64.b64encode(b'{"o": 0, "e": 99}').decode()
        elif offset + limit < len(items):
            nxt = {"o": offset + limit, "e": empties}
            result["NextToken"] = base64.b64encode(json.dumps(nxt).encode()).decode()
        return result

    @staticmethod
    def _window(body: dict[str, Any], created: float) -> bool:
        after, before = body.get("CreationTimeAfter"), body.get("CreationTimeBefore")
        if after is not None and not created > as_epoch(after):
            return False
        return not (before is not None and not created < as_epoch(before))

    @staticmethod
    def _sorted(items: list[Any], body: dict[str, Any], name: Callable[[Any], Any]) -> list[Any]:
        by = body.get("SortBy") or "CreationTime"
        key = (lambda x: (x.created, x.arn)) if by == "CreationTime" else name
        return sorted(items, key=key, reverse=body.get("SortOrder") == "Descending")

    # ---- operations
    def op_ListModelPackageGroups(self, body: dict[str, Any]) -> dict[str, Any]:
        contains = body.get("NameContains")
        with self.registry.lock:
            groups = [
                g
                for g in self.registry.groups.values()
                if self._window(body, g.created) and (not contains or contains in g.name)
            ]
            groups = self._sorted(groups, body, lambda g: g.name)
            items = [g.summary() for g in groups]
        return self._page(items, body, "ModelPackageGroupSummaryList", "(groups)")

    def op_ListModelPackages(self, body: dict[str, Any]) -> dict[str, Any]:
        group = body.get("ModelPackageGroupName")
        if group and group.startswith("arn:"):
            group = group.rsplit("/", 1)[-1]
        if group in self.faults.fail_groups:
            raise ApiError("InternalFailure", f"injected failure for {group}", 500)
        kind = "Versioned" if group else body.get("ModelPackageType") or "Unversioned"
        approval = body.get("ModelApprovalStatus")
        now = time.time()
        with self.registry.lock:
            packages = [
                p
                for p in self.registry.packages.values()
                if p.visible_at <= now
                and (group is None or p.group == group)
                and (kind == "Both" or (kind == "Versioned") == (p.group is not None))
                and (approval is None or p.approval == approval)
                and self._window(body, p.created)
            ]
            packages = self._sorted(packages, body, lambda p: p.name or "")
            items = [p.summary() for p in packages]
        # Faults name a listing: a group's, the unversioned one, or the account's.
        scope = group or ("(unversioned)" if kind == "Unversioned" else "(account)")
        return self._page(items, body, "ModelPackageSummaryList", scope)

    def op_ListAccounts(self, body: dict[str, Any]) -> dict[str, Any]:
        """Organizations' ListAccounts: an organization of the registry's account alone
        (paged, so that the paging faults apply to discovery too)."""
        account = {"Id": self.registry.account_id, "Name": "standin", "State": "ACTIVE"}
        return self._page([account], body, "Accounts", "(accounts)")

    def op_CreateModelPackageGroup(self, body: dict[str, Any]) -> dict[str, Any]:
        arn = self.registry.create_group(
            body["ModelPackageGroupName"], body.get("ModelPackageGroupDescription")
        )
        return {"ModelPackageGroupArn": arn}

    def op_CreateModelPackage(self, body: dict[str, Any]) -> dict[str, Any]:
        arn = self.registry.create_package(
            body.get("ModelPackageGroupName"),
            name=body.get("ModelPackageName"),
            approval=body.get("ModelApprovalStatus", "PendingManualApproval"),
            description=body.get("ModelPackageDescription"),
            life_cycle=body.get("ModelLifeCycle"),
            registration_type=body.get("ModelPackageRegistrationType"),
            tags={t["Key"]: t["Value"] for t in body.get("Tags") or []},
            governance={k: body[k] for k in GOVERNANCE_KEYS if k in body} or None,
        )
        return {"ModelPackageArn": arn}

    def op_UpdateModelPackage(self, body: dict[str, Any]) -> dict[str, Any]:
        arn = body["ModelPackageArn"]
        self.registry.update_package(
            arn,
            approval=body.get("ModelApprovalStatus"),
            life_cycle=body.get("ModelLifeCycle"),
            approval_description=body.get("ApprovalDescription"),
        )
        return {"ModelPackageArn": self.registry._package(arn).arn}

    def op_DeleteModelPackage(self, body: dict[str, Any]) -> dict[str, Any]:
        self.registry.delete_package(self.registry._package(body["ModelPackageName"]).arn)
        return {}

    def op_DeleteModelPackageGroup(self, body: dict[str, Any]) -> dict[str, Any]:
        self.registry.delete_group(body["ModelPackageGroupName"])
        return {}

    def op_DescribeModelPackage(self, body: dict[str, Any]) -> dict[str, Any]:
        with self.registry.lock:
            return self.registry._package(body["ModelPackageName"]).described()

    def op_CreateModel(self, body: dict[str, Any]) -> dict[str, Any]:
        primary = body.get("PrimaryContainer")
        containers = [primary] if primary else list(body.get("Containers") or [])
        arn = self.registry.create_model(
            body["ModelName"],
            containers,
            pipeline=primary is None,
            tags={t["Key"]: t["Value"] for t in body.get("Tags") or []},
            execution_role_arn=body.get("ExecutionRoleArn"),
        )
        return {"ModelArn": arn}

    def op_DeleteModel(self, body: dict[str, Any]) -> dict[str, Any]:
        self.registry.delete_model(body["ModelName"])
        return {}

    def op_CreateEndpointConfig(self, body: dict[str, Any]) -> dict[str, Any]:
        variants = body.get("ProductionVariants") or []
        arn = self.registry.create_endpoint_config(
            body["EndpointConfigName"], [v.get("ModelName") for v in variants]
        )
        return {"EndpointConfigArn": arn}

    def op_CreateEndpoint(self, body: dict[str, Any]) -> dict[str, Any]:
        arn = self.registry.create_endpoint(body["EndpointName"], body["EndpointConfigName"])
        return {"EndpointArn": arn}

    def op_UpdateEndpoint(self, body: dict[str, Any]) -> dict[str, Any]:
        self.registry.update_endpoint(body["EndpointName"], body["EndpointConfigName"])
        return {"EndpointArn": self.registry.endpoints[body["EndpointName"]].arn}

    def op_DeleteEndpoint(self, body: dict[str, Any]) -> dict[str, Any]:
        self.registry.delete_endpoint(body["EndpointName"])
        return {}

    def op_Search(self, body: dict[str, Any]) -> dict[str, Any]:
        """Search(Resource="ModelPackage"): top-level Filters (AND), sort, pagination.

        Whole records are built for the page only: the benchmarks search
        registries of 200,000 packages.
        """
        if body.get("Resource") == "ModelPackageGroup":
            return self._search_groups(body)
        if body.get("Resource") == "Model":
            return self._search_models(body)
        if body.get("Resource") == "Endpoint":
            return self._search_endpoints(body)
        if body.get("Resource") != "ModelPackage":
            resource = body.get("Resource")
            raise ApiError("ValidationException", f"the stand-in does not search {resource}")
        filters = (body.get("SearchExpression") or {}).get("Filters") or []
        by = body.get("SortBy") or "CreationTime"
        if self.faults.search_blind and any(f.get("Operator") in RANGES for f in filters):
            return {"Results": []}
        with self.registry.lock:
            found = [
                p
                for p in self.registry.packages.values()
                if self.indexed(p)
                and all(_matches(_property(p, f.get("Name")), f) for f in filters)
            ]
            found.sort(
                key=lambda p: (_comparable(_property(p, by)), p.arn),
                reverse=body.get("SortOrder") == "Descending",
            )
            return self._search_page(found, body)

    def _search_groups(self, body: dict[str, Any]) -> dict[str, Any]:
        """Search(Resource="ModelPackageGroup"), by CreationTime, filtered on it only."""
        filters = (body.get("SearchExpression") or {}).get("Filters") or []
        if any(f.get("Name") != "CreationTime" for f in filters):
            raise ApiError("ValidationException", "the stand-in filters groups on CreationTime")
        with self.registry.lock:
            found = sorted(
                (
                    g
                    for g in self.registry.groups.values()
                    if all(_matches(g.created, f) for f in filters)
                ),
                key=lambda g: (g.created, g.arn),
                reverse=body.get("SortOrder") == "Descending",
            )
            result = self._page(found, body, "Results", "(search)")
            result["Results"] = [{"ModelPackageGroup": g.searched()} for g in result["Results"]]
            return result

    def _search_models(self, body: dict[str, Any]) -> dict[str, Any]:
        """Search(Resource="Model"): ModelDashboardModel records, each model with the
        endpoints that run it. Property names are paths in that record ("Model.CreationTime",
        "Endpoints.EndpointName"); an endpoint's fields are matched through NestedFilters
        on "Endpoints" (one endpoint must satisfy all of a nested filter's conditions)."""
        expression = body.get("SearchExpression") or {}
        if expression.get("SubExpressions"):
            raise ApiError("ValidationException", "the stand-in takes no SubExpressions")
        filters = expression.get("Filters") or []
        nested = expression.get("NestedFilters") or []
        by = body.get("SortBy") or "LastModifiedTime"
        if by not in MODEL_SORTS:
            raise ApiError("ValidationException", f"Unknown sort property: {by}")
        if self.faults.search_blind and any(f.get("Operator") in RANGES for f in filters):
            return {"Results": []}
        for group in nested:
            if group.get("NestedPropertyName") != "Endpoints":
                raise ApiError("ValidationException", "nested filters apply to Endpoints only")
        with self.registry.lock:
            found = []
            for model in self.registry.models.values():
                endpoints = self.registry.hosting(model)
                if all(
                    _matches(_model_property(model, f.get("Name")), f, MODEL_PROPERTIES)
                    for f in filters
                ) and all(
                    any(
                        all(
                            _matches(e.dashboard().get(_leaf(f)), f, MODEL_PROPERTIES)
                            for f in group.get("Filters") or []
                        )
                        for e in endpoints
                    )
                    for group in nested
                ):
                    found.append((model, endpoints))
            found.sort(
                key=lambda m: (_comparable(_model_property(m[0], by)), m[0].arn),
                reverse=body.get("SortOrder", "Descending") == "Descending",
            )
            result = self._page(found, body, "Results", "(search)")
            result["Results"] = [
                {
                    "Model": {
                        "Model": model.described(),
                        "Endpoints": [e.dashboard() for e in endpoints],
                        "MonitoringSchedules": [],
                    }
                }
                for model, endpoints in result["Results"]
            ]
            return result

    def _search_endpoints(self, body: dict[str, Any]) -> dict[str, Any]:
        """Search(Resource="Endpoint"): Endpoint records, filtered and sorted on their fields."""
        filters = (body.get("SearchExpression") or {}).get("Filters") or []
        by = body.get("SortBy") or "LastModifiedTime"
        if by not in ENDPOINT_PROPERTIES:
            raise ApiError("ValidationException", f"Unknown sort property: {by}")
        if self.faults.search_blind and any(f.get("Operator") in RANGES for f in filters):
            return {"Results": []}
        with self.registry.lock:
            models = self.registry.models
            found = [
                e
                for e in self.registry.endpoints.values()
                if all(
                    _matches(e.searched(models).get(f.get("Name")), f, ENDPOINT_PROPERTIES)
                    for f in filters
                )
            ]
            found.sort(
                key=lambda e: (_comparable(e.searched(models).get(by)), e.arn),
                reverse=body.get("SortOrder", "Descending") == "Descending",
            )
            result = self._page(found, body, "Results", "(search)")
            result["Results"] = [{"Endpoint": e.searched(models)} for e in result["Results"]]
            return result

    def indexed(self, package: Package) -> bool:
        """Whether the search index has the package yet (it is eventually consistent)."""
        faults = self.faults
        return (
            package.visible_at <= time.time()
            and package.touched_at + faults.search_lag_seconds <= time.time()
            and package.touched + faults.search_lag_updates <= self.registry.mutations
            and package.arn not in faults.search_missing
        )

    def _search_page(self, found: list[Package], body: dict[str, Any]) -> dict[str, Any]:
        """The requested page of Search results, whole records built for it only."""
        result = self._page(found, body, "Results", "(search)")
        result["Results"] = [{"ModelPackage": p.searched()} for p in result["Results"]]
        return result

    def op_BatchDescribeModelPackage(self, body: dict[str, Any]) -> dict[str, Any]:
        arns = body.get("ModelPackageArnList") or []
        if not 1 <= len(arns) <= 100:
            raise ApiError("ValidationException", "ModelPackageArnList must hold 1 to 100 ARNs")
        found: dict[str, Any] = {}
        errors: dict[str, Any] = {}
        with self.registry.lock:
            for arn in arns:
                pkg = self.registry.packages.get(arn)
                if pkg is None:
                    errors[arn] = {"ErrorCode": "ValidationException", "ErrorResponse": "not found"}
                else:
                    item = pkg.described()
                    item["InferenceSpecification"] = {"Containers": []}
                    found[arn] = item
        return {"ModelPackageSummaries": found, "BatchDescribeModelPackageErrorMap": errors}


def as_epoch(value: Any) -> float:
    if isinstance(value, int | float):
        return float(value)
    text = str(value)
    try:
        return float(text)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError("ValidationException", f"invalid timestamp {text[:40]!r}") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


SEARCH_TIMES = frozenset({"CreationTime", "LastModifiedTime"})
SEARCH_PROPERTIES = SEARCH_TIMES | {
    "ModelPackageArn",
    "ModelPackageGroupName",
    "ModelPackageName",
    "ModelPackageStatus",
    "ModelApprovalStatus",
}
# Search(Resource="Model") and Search(Resource="Endpoint"): the properties the stand-in
# filters and sorts on.
MODEL_PROPERTIES = frozenset(
    {
        "Model.ModelName",
        "Model.ModelArn",
        "Model.CreationTime",
        "Endpoints.EndpointName",
        "Endpoints.EndpointArn",
        "Endpoints.EndpointStatus",
    }
)
MODEL_SORTS = frozenset({"Model.ModelName", "Model.CreationTime"})
ENDPOINT_PROPERTIES = SEARCH_TIMES | {"EndpointName", "EndpointArn", "EndpointStatus"}
RANGES = frozenset({"GreaterThan", "GreaterThanOrEqualTo", "LessThan", "LessThanOrEqualTo"})
COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "Equals": lambda a, b: a == b,
    "NotEquals": lambda a, b: a != b,
    "GreaterThan": lambda a, b: a > b,
    "GreaterThanOrEqualTo": lambda a, b: a >= b,
    "LessThan": lambda a, b: a < b,
    "LessThanOrEqualTo": lambda a, b: a <= b,
    "Contains": lambda a, b: str(b) in str(a),
    "In": lambda a, b: str(a) in str(b).split(","),
}


def _property(package: Package, name: Any) -> Any:
    """A searchable property of a package; the times without building its record."""
    if name == "CreationTime":
        return package.created
    if name == "LastModifiedTime":
        return package.last_modified
    return package.searched().get(name) if isinstance(name, str) else None


def _model_property(model: Model, name: Any) -> Any:
    """A searchable property of a model, by its path in the ModelDashboardModel record."""
    if name == "Model.CreationTime":
        return model.created
    return model.described().get(_leaf(name)) if isinstance(name, str) else None


def _leaf(condition: Any) -> str:
    """The last step of a property path ("Endpoints.EndpointName" -> "EndpointName")."""
    name = condition.get("Name") if isinstance(condition, dict) else condition
    return str(name).rsplit(".", 1)[-1]


def _matches(
    actual: Any, condition: dict[str, Any], properties: frozenset[str] = SEARCH_PROPERTIES
) -> bool:
    """One Search filter; timestamps compare as instants, whatever form the value takes."""
    name, operator = condition.get("Name"), condition.get("Operator") or "Equals"
    if name not in properties:
        raise ApiError("ValidationException", f"Unknown property name: {name}")
    if operator in ("Exists", "NotExists"):
        return (actual is not None) == (operator == "Exists")
    compare = COMPARISONS.get(operator)
    if compare is None:
        raise ApiError("ValidationException", f"unsupported operator {operator}")
    if actual is None:
        return False
    expected = condition.get("Value")
    if operator == "In" and str(name).endswith(tuple(SEARCH_TIMES)):
        raise ApiError("ValidationException", "In applies to text properties only")
    if str(name).endswith(tuple(SEARCH_TIMES)):
        return compare(float(actual), as_epoch(expected))
    return compare(str(actual), str(expected))


def _comparable(value: Any) -> tuple[int, Any]:
    """A sort key that puts missing values last."""
    return (1, "") if value is None else (0, value)


class Regions:
    """One stand-in per region behind one endpoint, as SageMaker's regional endpoints.

    botocore sends every region's requests to the one ``AWS_ENDPOINT_URL``; the
    region is read from the request's SigV4 credential scope. Each region has
    its own registry, faults (a quota of its own) and counters: separate
    quotas, as separate accounts or regions have.
    """

    def __init__(self, standins: dict[str, StandIn]) -> None:
        self.standins = standins
        self._first = next(iter(standins.values()))
        self.arrivals: list[str] = []  # the region of each request, in order of arrival

    def app(self) -> web.Application:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_post("/", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        scope = request.headers.get("Authorization", "").split("Credential=", 1)[-1]
        parts = scope.split("/")
        region = parts[2] if len(parts) > 2 else ""
        if request.headers.get("X-Amz-Target"):
            self.arrivals.append(region)
        return await self.standins.get(region, self._first).handle(request)


@contextlib.contextmanager
def serve_in_thread(
    standin: StandIn | Regions, host: str = "127.0.0.1", port: int = 0
) -> Iterator[str]:
    """Run the server on its own loop in a thread; yields its endpoint URL."""
    ready = threading.Event()
    state: dict[str, Any] = {}

    def main() -> None:
        loop = asyncio.new_event_loop()
        state["loop"] = loop
        runner = web.AppRunner(standin.app(), access_log=None)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, host, port)
        loop.run_until_complete(site.start())
        sockets = site._server.sockets  # type: ignore[union-attr]
        state["port"] = sockets[0].getsockname()[1]
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=main, name="sagemaker-standin", daemon=True)
    thread.start()
    if not ready.wait(10):
        raise RuntimeError("stand-in did not start")
    try:
        yield f"http://{host}:{state['port']}"
    finally:
        state["loop"].call_soon_threadsafe(state["loop"].stop)
        thread.join(10)


def _parser() -> Any:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--groups", type=int, default=5)
    parser.add_argument("--versions", type=int, default=20)
    parser.add_argument("--unversioned", type=int, default=3)
    parser.add_argument("--models", type=int, default=0)
    parser.add_argument("--endpoints", type=int, default=0)
    parser.add_argument(
        "--probe",
        action="store_true",
        help="health check: GET /health of the stand-in that is this container's main process",
    )
    return parser


def served_port(cmdline: list[str]) -> int:
    """The port a `python -m standin ...` command line serves on (its --port)."""
    args = cmdline[cmdline.index("standin") + 1 :]
    return int(_parser().parse_known_args(args)[0].port)


def probe(cmdline_path: str = "/proc/1/cmdline") -> None:
    """The image's HEALTHCHECK: the port comes from the main process's own command
    line, so it follows a CMD that says `--port`; raises unless /health answers."""
    import urllib.request

    with open(cmdline_path, "rb") as f:
        cmdline = [part.decode() for part in f.read().split(b"\0") if part]
    port = served_port(cmdline)
    urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2).close()


def main() -> None:
    """`python -m standin [--port N] [--groups G --versions V]`: a seeded server."""
    args = _parser().parse_args()
    if args.probe:
        probe()
        return
    registry = Registry()
    seed(registry, args.groups, args.versions, args.unversioned)
    seed_deployments(registry, args.models, args.endpoints)
    web.run_app(StandIn(registry).app(), host=args.host, port=args.port)


def seed(registry: Registry, groups: int, versions: int, unversioned: int) -> None:
    """A registry of `groups` groups with `versions` versions each, with varied states."""
    rng = random.Random(1)
    for g in range(groups):
        name = f"model-{g:04d}"
        registry.create_group(name, f"sample model {g}")
        for _ in range(versions):
            registry.create_package(
                name,
                approval=rng.choice(["Approved", "Rejected", "PendingManualApproval"]),
                life_cycle=rng.choice(
                    [
                        None,
                        {"Stage": "Staging", "StageStatus": "Approved"},
                        {"Stage": "Production", "StageStatus": "Approved"},
                    ]
                ),
                registration_type=rng.choice([None, "Registered", "Logged"]),
            )
    for u in range(unversioned):
        registry.create_package(name=f"unversioned-{u:03d}", status="Completed")


def seed_deployments(registry: Registry, models: int, endpoints: int) -> None:
    """``models`` models, each made from a version of the registry (every tenth from
    an image and an artifact alone, as a model trained outside the registry), and
    ``endpoints`` endpoints, endpoint i running model i (modulo ``models``)."""
    rng = random.Random(2)
    versions = sorted(p.arn for p in registry.packages.values() if p.group is not None)
    names = []
    for m in range(models):
        name = f"model-{m:05d}"
        if m % 10 == 9 or not versions:
            container = {
                "Image": f"{registry.account_id}.dkr.ecr.{registry.region}.amazonaws.com/custom:1",
                "ModelDataUrl": f"s3://standin-models/custom/{name}/model.tar.gz",
            }
        else:
            container = {"ModelPackageName": rng.choice(versions)}
        registry.create_model(name, [container])
        names.append(name)
    for e in range(endpoints if names else 0):
        registry.deploy(f"endpoint-{e:05d}", names[e % len(names)])
