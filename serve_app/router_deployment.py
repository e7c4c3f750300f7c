"""The deployment that holds the Router: dynamic batching with `@serve.batch`, bundle swaps through `user_config`."""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from itertools import accumulate
from pathlib import Path
from typing import Any

from ray import serve

from finerouter.errors import ConfigError, InvalidRequestError
from finerouter.routing.decision import RouteDecision
from serve_app.metrics import RouterMetrics

logger = logging.getLogger("ray.serve")


@dataclass(frozen=True)
class RouteQuery:
    prompt: str
    tolerance: float | None = None
    max_cost: float | None = None
    models: tuple[str, ...] | None = None
    willingness: float | None = None

    def options(self) -> tuple[float | None, float | None, tuple[str, ...] | None, float | None]:
        """What one `Router.route` call shares: queries with equal options are routed together."""
        return self.tolerance, self.max_cost, self.models, self.willingness


class RoutingFailure(RuntimeError):
    """Routing one query failed for a reason inside the router (not the request's fault): a 500 for that query."""


@dataclass(frozen=True)
class RouteOutcome:
    """A decision, or why this one query failed (exceptions do not cross a batch): `error` is the
    InvalidRequestError message (the request's fault, a 400), `internal_error` an unexpected failure (a 500)."""

    decision: RouteDecision | None = None
    error: str | None = None
    internal_error: str | None = None

    def result(self) -> RouteDecision:
        """The decision, or the query's own failure raised: InvalidRequestError or RoutingFailure."""
        if self.error is not None:
            raise InvalidRequestError(self.error)
        if self.internal_error is not None:
            raise RoutingFailure(self.internal_error)
        if self.decision is None:
            raise RoutingFailure("the router returned neither a decision nor an error")
        return self.decision


def import_router_class(path: str) -> Any:
    module_name, _, class_name = path.partition(":")
    try:
        return getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"router_class {path!r} cannot be imported: {exc}") from exc


def load_options(encoder_dtype: str = "float32", encoder_runtime: str = "torch") -> dict[str, str]:
    """The `Router.load` keywords that differ from their defaults: a custom router class need not know the others."""
    defaults = {"encoder_dtype": "float32", "encoder_runtime": "torch"}
    given = {"encoder_dtype": encoder_dtype, "encoder_runtime": encoder_runtime}
    return {key: value for key, value in given.items() if value != defaults[key]}


@serve.deployment(name="Router")
class RouterDeployment:
    """`user_config` = {"bundle": "/abs/dir"}: a new bundle is loaded beside the old one, then swapped in; batches
    already running finish on the router they started with, so a bundle update drops no request."""

    def __init__(
        self, router_class: str, required_models: list[str], max_batch_size: int, batch_wait_timeout_s: float,
        encoder_dtype: str = "float32", encoder_runtime: str = "torch",
    ) -> None:  # fmt: skip
        self._router_class = import_router_class(router_class)
        self._load_options = load_options(encoder_dtype, encoder_runtime)
        self._required_models = sorted(required_models)
        self._router: Any = None
        self._bundle: str | None = None
        self._created = 0
        self._metrics = RouterMetrics()
        self._max_batch_size = max_batch_size
        self._route_batch.set_max_batch_size(max_batch_size)
        self._route_batch.set_batch_wait_timeout_s(batch_wait_timeout_s)

    async def reconfigure(self, user_config: dict[str, Any]) -> None:
        bundle = user_config.get("bundle")
        if not isinstance(bundle, str):
            raise ConfigError(f"user_config must be {{'bundle': '<dir>'}}, got {user_config!r}")
        if bundle == self._bundle and self._router is not None:
            return
        router = await asyncio.to_thread(self._load_warm, bundle)
        missing = [m for m in self._required_models if m not in router.models]
        if missing:
            raise ConfigError(
                f"upstreams/fallbacks name models not in bundle {bundle}: {missing}; pool: {router.models}"
            )
        previous = getattr(self._router, "version", None)
        self._router, self._bundle, self._created = router, bundle, bundle_created(router, bundle)
        logger.info("router bundle %s loaded (version %s, was %s)", bundle, router.version, previous)

    def _load_warm(self, bundle: str) -> Any:
        """Load, then route one prompt so the encoder is loaded before the first request (or the swap)."""
        router = self._router_class.load(bundle, **self._load_options)
        router.route(["warm-up: load the encoder before taking traffic"])
        return router

    def _require_router(self) -> Any:
        if self._router is None:
            raise ConfigError("no bundle loaded: the deployment needs user_config {'bundle': '<dir>'}")
        return self._router

    def info(self) -> dict[str, Any]:
        router = self._require_router()
        return {
            "version": router.version,
            "models": list(router.models),
            "model_cost": dict(router.model_cost),
            "cost_unit": router.cost_unit,
            "created": self._created,
        }

    async def route(self, query: RouteQuery) -> RouteOutcome:
        return (await self._route_batch([query]))[0]

    async def route_many(self, queries: list[RouteQuery]) -> list[RouteOutcome]:
        """A batch formed by the caller (the ingress coalesces its requests): one call instead of one per query.
        Lists longer than max_batch_size are routed in max_batch_size pieces."""
        size = self._max_batch_size
        pieces = [list(queries[start : start + size]) for start in range(0, len(queries), size)]
        routed = await asyncio.gather(*(self._route_batch(piece) for piece in pieces))
        return [outcome for piece in routed for outcome in piece]

    @serve.batch(max_batch_size=32, batch_wait_timeout_s=0.005, batch_size_fn=lambda groups: sum(map(len, groups)))
    async def _route_batch(self, groups: list[list[RouteQuery]]) -> list[list[RouteOutcome]]:
        """Every query that arrived (singly or in lists) while the previous batch ran, up to max_batch_size."""
        router = self._require_router()
        queries = [query for group in groups for query in group]
        self._metrics.batch_size.observe(len(queries))
        # Routed on this (user-code) event loop, blocking it: `serve.batch` forms its next batch as soon as this one
        # is dispatched, so running the encoder in a thread would cut the requests that arrive meanwhile into
        # fragments of one or two. Blocked, they queue up and the next batch takes them whole. Serve's own request
        # intake and health checks run on the replica's main loop, another thread, and are not held up.
        outcomes = route_grouped(router, queries)
        ends = accumulate(len(group) for group in groups)
        return [outcomes[end - len(group) : end] for group, end in zip(groups, ends, strict=True)]


def bundle_created(router: Any, bundle: str) -> int:
    """Unix seconds when the bundle was written (OpenAI's `created` of its models): bundle.json's `created`, else
    the directory's modification time (a custom router class need not keep `meta`)."""
    stamp = getattr(getattr(router, "meta", None), "created", None)
    if stamp:
        return int(datetime.fromisoformat(stamp).timestamp())
    return int(Path(bundle).stat().st_mtime)


def route_grouped(router: Any, queries: list[RouteQuery]) -> list[RouteOutcome]:
    """One `router.route` call per distinct (tolerance, max_cost, models, willingness); when a call fails for any
    reason, its queries are routed one by one, so that a bad request (or one the router cannot handle) fails alone
    and its neighbours get their answers. (Batches by prompt length are the encoder's business.)"""
    groups: dict[tuple, list[int]] = defaultdict(list)
    for index, query in enumerate(queries):
        groups[query.options()].append(index)
    outcomes: dict[int, RouteOutcome] = {}
    for (tolerance, max_cost, models, willingness), indices in groups.items():
        kwargs: dict[str, Any] = {
            "tolerance": tolerance,
            "max_cost": max_cost,
            "models": None if models is None else list(models),
        }
        if willingness is not None:  # only then: a custom router class need not know the option
            kwargs["willingness"] = willingness
        try:
            decisions = router.route([queries[i].prompt for i in indices], **kwargs)
            outcomes.update(
                (i, RouteOutcome(decision=decision)) for i, decision in zip(indices, decisions, strict=True)
            )
        except Exception as exc:  # whatever failed the group: find the culprit(s) by routing each query alone
            logger.info("a batch of %d queries failed (%s: %s); routing them one by one", len(indices),
                        type(exc).__name__, exc)  # fmt: skip
            outcomes.update((i, route_alone(router, queries[i], kwargs)) for i in indices)
    return [outcomes[i] for i in range(len(queries))]


def route_alone(router: Any, query: RouteQuery, kwargs: dict[str, Any]) -> RouteOutcome:
    try:
        return RouteOutcome(decision=router.route([query.prompt], **kwargs)[0])
    except InvalidRequestError as exc:
        return RouteOutcome(error=str(exc))
    except Exception as exc:
        logger.exception("routing one query (a prompt of %d characters) failed", len(query.prompt))
        return RouteOutcome(internal_error=f"{type(exc).__name__}: {exc}")
