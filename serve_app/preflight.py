"""`finerouter serve`'s preflight: the replicas the app starts with must fit what the Ray cluster has free.

Without it a replica that finds no CPU stays pending and the command waits silently; on a head shared with a
rebuild, the rebuild then waits for the CPUs the app holds (docs/operations.md, 'Serving and rebuilding side by
side').
"""

from __future__ import annotations

import logging

from finerouter.cluster import Demand, PreflightMode, check, cluster_view, format_resources, shortfalls
from serve_app.config import ServeAppArgs

log = logging.getLogger("finerouter.preflight")

START_WAIT_S = 5.0  # resources of an app just stopped on the same cluster are released within seconds


def start_replicas(args: ServeAppArgs) -> int:
    scaling = args.router.autoscaling
    return scaling.initial_replicas if scaling.initial_replicas is not None else scaling.min_replicas


def serve_demand(args: ServeAppArgs, router_replicas: int) -> Demand:
    """The app with `router_replicas` Router replicas and its ingress replicas, all running at once."""
    router = {"CPU": args.router.num_cpus}
    ingress = {"CPU": args.ingress.num_cpus}
    what = (
        f"{router_replicas} router replica(s) x {format_resources(router)} + "
        f"{args.ingress.num_replicas} ingress replica(s) x {format_resources(ingress)}"
    )
    bundles = (*([router] * router_replicas), *([ingress] * args.ingress.num_replicas))
    fixes = (
        f"smaller router replicas: --replica-cpus {args.router.num_cpus / 2:g} (a reservation: a replica still uses "
        "the CPU time it gets)",
        "fewer router replicas at start: --min-replicas 1",
    )
    return Demand("finerouter serve", what, bundles, fixes)


def preflight_serve(args: ServeAppArgs, mode: PreflightMode = "fail") -> None:
    """Fail (or warn) when the starting replicas do not fit; warn when autoscaling to max_replicas would not."""
    if mode == "skip":
        return
    start = serve_demand(args, start_replicas(args))
    hint = "(--preflight warn only logs this; --preflight skip skips the check.)"
    check([start], mode, wait_s=START_WAIT_S, mode_hint=hint)
    peak = serve_demand(args, args.router.autoscaling.max_replicas)
    for s in shortfalls([peak], cluster_view()):
        log.warning(
            "autoscaling up to %d router replicas needs %g %s but %g are free: replicas beyond that stay pending "
            "(lower --max-replicas or --replica-cpus)",
            args.router.autoscaling.max_replicas,
            s.needed,
            s.resource,
            s.free,
        )
