"""What `finerouter serve` picks when the user does not say: the serving path and the prompt encoder's runtime and
dtype that this machine runs fastest (docs/serving.md, "Fast by default"; measurements in docs/benchmarks.md).
Every choice is printed with its reason, and every one is overridable by a flag or the config file."""

from __future__ import annotations

import math

from finerouter.embed.hardware import EncoderChoice, choose_encoder
from serve_app.config import ServeAppArgs

OVERRIDE_HINT = "override with --encoder-runtime / --encoder-dtype or router.encoder_* in --config"


def choose_direct_ingress(requested: bool | None, address: str | None) -> tuple[bool, str]:
    """(direct ingress?, why). Direct ingress (no HTTP proxy hop: ~8 ms less per request) needs environment
    variables set before Ray starts, so it is the default only on the local Ray that `finerouter serve` starts."""
    if requested is not None:
        return requested, "as requested" + ("" if requested else " (--no-direct-ingress: Serve's HTTP proxy)")
    if address is None:
        return True, "the default on the local Ray; --no-direct-ingress serves through Serve's HTTP proxy instead"
    return False, (
        "on an existing cluster (--address) Serve's HTTP proxy is used: direct ingress needs Ray started with "
        "the variables in docs/serving.md"
    )


def with_fast_encoder(args: ServeAppArgs) -> tuple[ServeAppArgs, EncoderChoice]:
    """`args` with the encoder settings it leaves unset (not in --config, no flag) filled by `choose_encoder`."""
    router = args.router
    given = router.model_fields_set if "router" in args.model_fields_set else set()
    choice = choose_encoder(
        router.encoder_runtime if "encoder_runtime" in given else None,
        router.encoder_dtype if "encoder_dtype" in given else None,
    )
    update = {"encoder_runtime": choice.runtime, "encoder_dtype": choice.dtype}
    chosen = router.model_dump(mode="json", exclude_unset=True) | update
    return ServeAppArgs.model_validate(args.model_dump(mode="json", exclude_unset=True) | {"router": chosen}), choice


def with_fitting_replicas(args: ServeAppArgs, cluster_cpus: float) -> tuple[ServeAppArgs, str | None]:
    """On the local Ray: when `router.num_cpus` is not configured, reserve per router replica the share of the CPUs
    that lets `max_replicas` replicas run beside the ingress (at most 1 CPU each), so autoscaling can reach its
    maximum on a small machine (2 cores: 0.95 each; one 1-CPU replica reached 236 routes/s, two 322 at c=32,
    docs/benchmarks.md). Returns the args and the line to print (None: the configured value is kept)."""
    router = args.router
    if "router" in args.model_fields_set and "num_cpus" in router.model_fields_set:
        return args, None
    ingress_cpus = args.ingress.num_cpus * args.ingress.num_replicas
    share = math.floor((cluster_cpus - ingress_cpus) / router.autoscaling.max_replicas * 20) / 20
    replica_cpus = min(1.0, share)
    if replica_cpus <= 0 or replica_cpus == router.num_cpus:
        return args, None
    chosen = router.model_dump(mode="json", exclude_unset=True) | {"num_cpus": replica_cpus}
    updated = ServeAppArgs.model_validate(args.model_dump(mode="json", exclude_unset=True) | {"router": chosen})
    line = (
        f"router replicas: {replica_cpus:g} CPU each, so {router.autoscaling.max_replicas} fit beside the ingress on "
        f"this Ray's {cluster_cpus:g} CPUs (override with --replica-cpus or router.num_cpus in --config)"
    )
    return updated, line
