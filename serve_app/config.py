"""Typed arguments of the Serve application (the `args:` of a Serve config file, or `finerouter serve` flags).

Everything is validated on the driver before Serve is touched: a bad value fails `serve run` / `serve deploy`
with a message naming the field.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, HttpUrl, ValidationError, field_validator, model_validator

from finerouter.config_model import ConfigModel
from finerouter.embed.options import RUNTIME_DTYPES, valid_combinations
from finerouter.errors import ConfigError

NonEmptyStr = Annotated[str, Field(min_length=1)]


class _Strict(ConfigModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AutoscalingArgs(_Strict):
    """Replica count of the router deployment: Serve scales between min and max on ongoing requests per replica."""

    min_replicas: int = Field(1, ge=0)
    max_replicas: int = Field(2, ge=1)
    initial_replicas: int | None = Field(None, ge=0)
    # Ongoing calls per replica above which Serve adds one. The ingress sends list calls, at most
    # ingress.max_in_flight_batches per ingress replica, so a replica with a second call waiting is busy.
    target_ongoing_requests: float = Field(1.0, gt=0)
    # Serve's default upscale delay (30 s) never fired in a 27 s burst here (STACK-NOTES).
    upscale_delay_s: float = Field(2.0, ge=0)
    downscale_delay_s: float = Field(60.0, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> AutoscalingArgs:
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"min_replicas ({self.min_replicas}) > max_replicas ({self.max_replicas})")
        if self.initial_replicas is not None and not self.min_replicas <= self.initial_replicas <= self.max_replicas:
            raise ValueError(f"initial_replicas ({self.initial_replicas}) must lie in [min_replicas, max_replicas]")
        return self

    def to_serve(self) -> dict:
        return self.model_dump(exclude_none=True)


class RouterDeploymentArgs(_Strict):
    """The deployment holding the Router: dynamic batching, resources, autoscaling."""

    max_batch_size: int = Field(32, ge=1, le=1024)
    batch_wait_timeout_s: float = Field(0.0, ge=0, le=1)
    # bfloat16: about twice the encoder throughput on CPUs with AVX512-BF16/AMX (checked on the replica at load);
    # decisions agree with float32 on >= 99% of real prompts (docs/benchmarks.md).
    encoder_dtype: Literal["float32", "bfloat16"] = "float32"
    # onnxruntime (the `onnx` extra): the same encoder on ONNX Runtime, faster per prompt, float32 only (bfloat16
    # is torch's). The combination is checked here, the package on the replica at load.
    encoder_runtime: Literal["torch", "onnxruntime"] = "torch"
    max_ongoing_requests: int = Field(64, ge=1)
    num_cpus: float = Field(1.0, gt=0)
    autoscaling: AutoscalingArgs = AutoscalingArgs()
    graceful_shutdown_timeout_s: float = Field(20.0, ge=0)
    # How soon Serve notices a dead replica and starts a replacement (Serve's default period is 10 s).
    health_check_period_s: float = Field(2.0, gt=0)
    health_check_timeout_s: float = Field(30.0, gt=0)

    @model_validator(mode="after")
    def _encoder_combination(self) -> RouterDeploymentArgs:
        if self.encoder_dtype not in RUNTIME_DTYPES[self.encoder_runtime]:
            raise ValueError(
                f"encoder_dtype {self.encoder_dtype} does not run on encoder_runtime {self.encoder_runtime}; "
                f"valid (runtime: dtypes): {valid_combinations()}"
            )
        return self


class IngressBatching(_Strict):
    """How an ingress replica coalesces its routing requests into list calls to the Router deployment."""

    max_batch_size: int = Field(32, ge=1, le=1024)  # set from router.max_batch_size
    # List calls out at once; with none out a request goes alone, otherwise requests wait and go together.
    max_in_flight: int = Field(2, ge=1)
    linger_s: float = Field(0.0, ge=0, le=1)


class IngressArgs(_Strict):
    """The FastAPI ingress deployment (cheap: parsing, auth, proxying)."""

    num_replicas: int = Field(1, ge=1)
    num_cpus: float = Field(0.1, gt=0)
    max_ongoing_requests: int = Field(256, ge=1)
    # Router calls each ingress replica keeps out at once; more requests than that are coalesced (docs/serving.md).
    max_in_flight_batches: int = Field(2, ge=1, le=64)
    # With some (not all) of those calls out, how long a request may wait for others to join its call (it stops
    # waiting once as many wait as the calls out carry on average).
    batch_linger_ms: float = Field(5.0, ge=0, le=1000)


class UpstreamArgs(_Strict):
    """An OpenAI-compatible endpoint serving one model of the pool."""

    base_url: HttpUrl  # e.g. https://api.openai.com/v1 ; `/chat/completions` is appended
    api_key_env: NonEmptyStr | None = None  # name of the environment variable holding the key (read on the replica)
    model: NonEmptyStr | None = None  # the upstream's name for the model (default: the pool name)
    timeout_s: float = Field(60.0, gt=0)

    @field_validator("base_url")
    @classmethod
    def _base_not_endpoint(cls, url: HttpUrl) -> HttpUrl:
        if (url.path or "").rstrip("/").endswith("/chat/completions"):
            raise ValueError(f"give the API base (e.g. https://host/v1), not the endpoint: {url} (it is appended)")
        if url.query or url.fragment:
            raise ValueError(f"base_url {url} has a query or fragment; give the API base (e.g. https://host/v1)")
        return url

    @field_validator("model")
    @classmethod
    def _model_name(cls, model: str | None) -> str | None:
        if model is not None and model != model.strip():
            raise ValueError(f"model {model!r} has leading or trailing whitespace")
        return model

    def chat_url(self) -> str:
        return str(self.base_url).rstrip("/") + "/chat/completions"

    def api_key(self) -> str | None:
        if self.api_key_env is None:
            return None
        key = os.environ.get(self.api_key_env)
        if not key:
            raise ConfigError(f"upstream key variable {self.api_key_env} is not set on the replica")
        return key


class AuthArgs(_Strict):
    """Bearer API keys; none configured = open endpoint (bind to loopback or put it behind a gateway)."""

    api_keys_env: NonEmptyStr | None = None  # variable holding comma-separated keys
    api_keys_file: Path | None = None  # one key per line ('#' comments allowed)

    @property
    def enabled(self) -> bool:
        return self.api_keys_env is not None or self.api_keys_file is not None

    def load_keys(self) -> frozenset[str]:
        keys: set[str] = set()
        if self.api_keys_env is not None:
            raw = os.environ.get(self.api_keys_env, "")
            keys.update(k.strip() for k in raw.split(",") if k.strip())
        if self.api_keys_file is not None:
            lines = self.api_keys_file.read_text().splitlines()
            keys.update(s for line in lines if (s := line.strip()) and not s.startswith("#"))
        if self.enabled and not keys:
            raise ConfigError(
                f"auth is configured (api_keys_env={self.api_keys_env}, api_keys_file={self.api_keys_file}) "
                "but no key was found: set the variable or fill the file"
            )
        return frozenset(keys)


class CircuitBreakerArgs(_Strict):
    """Skips an upstream that keeps failing (no answer, timeout or 5xx) for a cool-down instead of trying it on every
    request: after `allowed_fails` failures in a row it is not called for `cooldown_s` (requests go to its fallback,
    or get a 503 with Retry-After); then one request probes it, and a failed probe starts another cool-down. As
    LiteLLM's `allowed_fails` / `cooldown_time`, kept per ingress replica."""

    allowed_fails: int = Field(3, ge=1)
    cooldown_s: float = Field(30.0, gt=0)


class LimitsArgs(_Strict):
    max_body_bytes: int = Field(1_000_000, ge=1024)
    # The whole body must arrive within this (else 408): a body shorter than its Content-Length does not hold a
    # connection open.
    body_read_timeout_s: float = Field(10.0, gt=0, le=300)
    max_prompt_chars: int = Field(32_000, ge=1)  # the routed text (a prompt, or the last user turn)
    max_messages: int = Field(256, ge=1)
    max_models: int = Field(64, ge=1)  # length of the `models` subset in a request


class ServiceArgs(_Strict):
    """What the ingress needs: upstreams, auth, limits. Kept apart from the bundle so that deploying a new bundle
    changes only the router deployment's user_config and no ingress replica restarts."""

    # pool model name -> endpoint (for /v1/chat/completions)
    upstreams: dict[NonEmptyStr, UpstreamArgs] = Field(default_factory=dict)
    # pool model -> model to retry on when its upstream fails
    fallbacks: dict[NonEmptyStr, NonEmptyStr] = Field(default_factory=dict)
    upstream_retries: int = Field(1, ge=0, le=3)  # fallback hops after a failed upstream call
    # A 429 moves on to the model's fallback (when it has one) instead of going back to the client.
    fallback_on_429: bool = True
    circuit_breaker: CircuitBreakerArgs = CircuitBreakerArgs()
    auth: AuthArgs = AuthArgs()
    limits: LimitsArgs = LimitsArgs()

    @field_validator("auth", mode="after")
    @classmethod
    def _absolute_keys_file(cls, auth: AuthArgs) -> AuthArgs:
        # Replicas may not share the driver's working directory.
        if auth.api_keys_file is not None:
            return auth.model_copy(update={"api_keys_file": auth.api_keys_file.expanduser().resolve()})
        return auth

    @model_validator(mode="after")
    def _fallbacks_have_upstreams(self) -> ServiceArgs:
        for source, target in self.fallbacks.items():
            if target not in self.upstreams:
                raise ValueError(
                    f"fallback {source} -> {target}: {target} has no upstream (configured: {sorted(self.upstreams)})"
                )
            if source == target:
                raise ValueError(f"fallback of {source} is itself")
        return self

    def deploy_problems(self, environ: Mapping[str, str]) -> list[str]:
        """What the replicas would only find at request time: unset key variables, a missing keys file. (URLs and
        model names are checked when the args are parsed.)"""
        problems = []
        for name, upstream in sorted(self.upstreams.items()):
            if upstream.api_key_env is not None and not environ.get(upstream.api_key_env):
                problems.append(f"upstreams.{name}.api_key_env: variable {upstream.api_key_env} is not set or empty")
        auth = self.auth
        if auth.api_keys_file is not None and not auth.api_keys_file.is_file():
            problems.append(f"auth.api_keys_file: {auth.api_keys_file} is not a file")
        elif auth.api_keys_env is not None and auth.api_keys_file is None and not environ.get(auth.api_keys_env):
            problems.append(f"auth.api_keys_env: variable {auth.api_keys_env} is not set or empty")
        return problems

    def check_deployable(self, environ: Mapping[str, str], where: str) -> None:
        """Raise ConfigError naming every problem of `deploy_problems`; `where` says which process looked."""
        problems = self.deploy_problems(environ)
        if problems:
            raise ConfigError(f"cannot deploy ({where}): " + "; ".join(problems))

    def referenced_models(self) -> set[str]:
        """Pool names this configuration relies on; the router deployment checks them against the bundle."""
        return set(self.upstreams) | set(self.fallbacks) | set(self.fallbacks.values())


class ServeAppArgs(ServiceArgs):
    """Arguments of `serve_app.app:build_app` (see serve_app/config.yaml and docs/serving.md)."""

    bundle: Path  # a router bundle directory written by the rebuild's bundle stage
    router: RouterDeploymentArgs = RouterDeploymentArgs()
    ingress: IngressArgs = IngressArgs()
    # Import path of the router class ("module:Class"); it must implement the Router contract.
    router_class: NonEmptyStr = "finerouter.routing.router:Router"

    @field_validator("bundle", mode="after")
    @classmethod
    def _bundle_dir(cls, bundle: Path) -> Path:
        bundle = bundle.expanduser().resolve()  # replicas may not share the driver's working directory
        if not bundle.is_dir():
            raise ValueError(f"bundle directory {bundle} does not exist")
        return bundle

    @field_validator("router_class")
    @classmethod
    def _import_path(cls, value: str) -> str:
        if ":" not in value:
            raise ValueError(f"router_class must look like 'package.module:Class', got {value!r}")
        return value

    @model_validator(mode="before")
    @classmethod
    def _calls_for_every_replica(cls, raw: Any) -> Any:
        """Unless set, each ingress replica keeps enough router calls out for the autoscaler to reach max_replicas
        (at least 2, so a replica gets its next batch while it routes one)."""
        if not isinstance(raw, dict) or not isinstance(raw.get("ingress", {}), dict):
            return raw
        ingress = raw.get("ingress", {})
        if "max_in_flight_batches" in ingress:
            return raw
        router = raw.get("router", {})
        scaling = router.get("autoscaling", {}) if isinstance(router, dict) else getattr(router, "autoscaling", None)
        ingress_replicas = ingress.get("num_replicas", IngressArgs.model_fields["num_replicas"].default)
        try:
            scaling = scaling if isinstance(scaling, AutoscalingArgs) else AutoscalingArgs.model_validate(scaling)
            ingress_replicas = IngressArgs(num_replicas=ingress_replicas).num_replicas
        except ValidationError:
            return raw  # the fields' own validation names the problem
        needed = math.ceil(scaling.max_replicas * scaling.target_ongoing_requests / ingress_replicas)
        default = IngressArgs.model_fields["max_in_flight_batches"].default
        return {**raw, "ingress": {**ingress, "max_in_flight_batches": min(64, max(default, needed))}}

    @model_validator(mode="after")
    def _replicas_reachable(self) -> ServeAppArgs:
        """Every router call comes from an ingress replica, which keeps at most max_in_flight_batches out: more
        replicas than those calls over target_ongoing_requests are never started by the autoscaler."""
        scaling, ingress = self.router.autoscaling, self.ingress
        calls = ingress.num_replicas * ingress.max_in_flight_batches
        if scaling.max_replicas > 1 and scaling.max_replicas * scaling.target_ongoing_requests > calls:
            raise ValueError(
                f"router.autoscaling.max_replicas ({scaling.max_replicas}) cannot all be used: the ingress keeps at "
                f"most ingress.num_replicas x ingress.max_in_flight_batches = {calls} router calls out, so more "
                f"replicas than {calls} / target_ongoing_requests ({scaling.target_ongoing_requests:g}) are neither "
                "started by the autoscaler nor kept busy; raise ingress.max_in_flight_batches or ingress.num_replicas "
                "(or leave max_in_flight_batches unset: it follows max_replicas), or lower max_replicas or "
                "target_ongoing_requests"
            )
        return self

    def ingress_batching(self) -> IngressBatching:
        return IngressBatching(
            max_batch_size=self.router.max_batch_size,
            max_in_flight=self.ingress.max_in_flight_batches,
            linger_s=self.ingress.batch_linger_ms / 1000,
        )

    def service(self) -> ServiceArgs:
        return ServiceArgs.model_validate(self.model_dump(include=set(ServiceArgs.model_fields)))
