"""Preflight: what a piece of work will ask Ray for, against what the cluster has free, before the work starts.

Ray waits, without end or error, for resources that never come free: a Ray Train worker group retries its start
(`WorkerGroupStartupTimeoutError`), an actor pool waits `actor_start_timeout_s`, a Serve replica stays pending. So
every caller states its `Demand`s (the parts of one demand run at the same time; separate demands run one after
another) and `check` compares each with `ray.available_resources()`, waiting a few seconds for resources that an
earlier stage is still releasing, then fails with the shortfall, what holds the resources and how to fix it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from finerouter.errors import ResourceShortfallError

log = logging.getLogger("finerouter.preflight")

PreflightMode = Literal["fail", "warn", "skip"]
RELEASE_WAIT_S = 10.0  # an earlier stage's actors and placement groups are released within a few seconds
POLL_S = 0.5
EPSILON = 1e-6  # Ray keeps fractional resources in units of 1/10,000


@dataclass(frozen=True)
class Demand:
    """Resources one part of the work holds all at once: `bundles` (one per worker or actor) start together."""

    owner: str  # the stage or application, e.g. "train_classifier"
    what: str  # e.g. "Ray Train, 2 workers x {CPU: 1}"
    bundles: tuple[Mapping[str, float], ...]
    fixes: tuple[str, ...] = ()  # settings that make it smaller

    def total(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for bundle in self.bundles:
            for resource, amount in bundle.items():
                if amount > 0:
                    out[resource] = out.get(resource, 0.0) + amount
        return out


@dataclass(frozen=True)
class Shortfall:
    demand: Demand
    resource: str
    needed: float
    free: float
    cluster: float
    single_bundle: bool = False  # one worker needs more than any node has


@dataclass(frozen=True)
class ClusterView:
    available: Mapping[str, float]
    total: Mapping[str, float]
    largest_node: Mapping[str, float] = field(default_factory=dict)


def pool(owner: str, label: str, count: int, bundle: Mapping[str, float], fixes: Sequence[str] = ()) -> Demand:
    """`count` workers of `bundle` each, started together (an actor pool, a Ray Train worker group)."""
    resources = {k: v for k, v in bundle.items() if v > 0}
    what = f"{label}, {count} x {format_resources(resources)}"
    return Demand(owner, what, tuple(dict(resources) for _ in range(count)), tuple(fixes))


def format_resources(resources: Mapping[str, float]) -> str:
    return "{" + ", ".join(f"{k}: {_num(v)}" for k, v in sorted(resources.items())) + "}"


def _num(value: float) -> str:
    return f"{value:.4g}"


def shortfalls(demands: Sequence[Demand], view: ClusterView) -> list[Shortfall]:
    """What each demand lacks on its own (demands run one after another, so they are not added up)."""
    found = []
    for demand in demands:
        for resource, needed in sorted(demand.total().items()):
            free = view.available.get(resource, 0.0)
            if needed > free + EPSILON:
                found.append(Shortfall(demand, resource, needed, free, view.total.get(resource, 0.0)))
        if view.largest_node:
            for bundle in demand.bundles:
                for resource, needed in bundle.items():
                    biggest = view.largest_node.get(resource, 0.0)
                    if needed > biggest + EPSILON and resource in view.total:
                        found.append(Shortfall(demand, resource, needed, biggest, biggest, single_bundle=True))
                        break
    return found


def cluster_view() -> ClusterView:
    import ray

    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    largest: dict[str, float] = {}
    for resources in nodes:
        for key, value in resources.items():
            largest[key] = max(largest.get(key, 0.0), value)
    return ClusterView(ray.available_resources(), ray.cluster_resources(), largest)


def holders(limit: int = 8) -> list[str]:
    """Alive actors that hold CPUs or GPUs, largest first ("2 x SERVE_REPLICA::finerouter#Router: {CPU: 1}").

    Best effort: the state API needs the dashboard, which an embedded local Ray may run without.
    """
    try:
        from ray.util.state import list_actors

        actors = list_actors(filters=[("state", "=", "ALIVE")], detail=True, limit=10000, timeout=5)
    except Exception as exc:
        log.debug("cannot list actors: %s", exc)
        return []
    counts: dict[tuple[str, str], int] = {}
    for actor in actors:
        held = {k: v for k, v in (actor.required_resources or {}).items() if k in ("CPU", "GPU") and v > 0}
        if held:
            key = (actor.name or actor.class_name, format_resources(held))
            counts[key] = counts.get(key, 0) + 1
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])
    return [f"{n} x {name}: {res}" for (name, res), n in ranked[:limit]]


GENERAL_FIXES = (
    "free what other work holds (a Serve app on the same head: `finerouter serve --replica-cpus 0.4 "
    "--max-replicas 2`, see docs/operations.md, 'Serving and rebuilding side by side')",
    "start a bigger head (`ray start --head --num-cpus N`) or add nodes",
)


def report(found: Sequence[Shortfall], held_by: Sequence[str], mode_hint: str = "") -> str:
    lines = ["Ray preflight: the cluster cannot start this work; Ray would wait for these resources without end:"]
    for s in found:
        if s.single_bundle:
            lines.append(
                f"  - {s.demand.owner}: {s.demand.what}: one worker needs {_num(s.needed)} {s.resource}, "
                f"more than any node has (largest: {_num(s.free)})"
            )
        else:
            has = f"{_num(s.free)} of {_num(s.cluster)} {s.resource} free" if s.cluster > 0 else f"no {s.resource}"
            lines.append(
                f"  - {s.demand.owner}: {s.demand.what} needs {_num(s.needed)} {s.resource}; the cluster has {has}"
            )
        for fix in s.demand.fixes:
            lines.append(f"      fix: {fix}")
    if held_by:
        lines.append("Held now by: " + "; ".join(held_by))
    lines.append("Or: " + "; or ".join(GENERAL_FIXES) + ".")
    if mode_hint:
        lines.append(mode_hint)
    return "\n".join(lines)


def check(
    demands: Sequence[Demand],
    mode: PreflightMode = "fail",
    *,
    wait_s: float = RELEASE_WAIT_S,
    view: Callable[[], ClusterView] = cluster_view,
    held_by: Callable[[], list[str]] = lambda: holders(),
    mode_hint: str = "",
) -> list[Shortfall]:
    """Fail (or warn) when a demand does not fit what is free. Waits up to `wait_s` for resources being released.

    Returns the shortfalls it warned about (empty when everything fits or the check is off).
    """
    if mode == "skip" or not demands:
        return []
    deadline = time.monotonic() + wait_s
    found = shortfalls(demands, view())
    while found and time.monotonic() < deadline:
        time.sleep(POLL_S)
        found = shortfalls(demands, view())
    if not found:
        for demand in demands:
            log.debug("preflight: %s: %s fits", demand.owner, demand.what)
        return []
    message = report(found, held_by(), mode_hint)
    if mode == "fail":
        raise ResourceShortfallError(message)
    log.warning("%s", message)
    return found
