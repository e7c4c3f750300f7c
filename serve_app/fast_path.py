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
    """On the local Ray `finerouter serve` starts: when `router.num_cpus` is not configured, reserve per router
    replica the share of the CPUs that lets `max_replicas` replicas run beside the ingress (at most 1 CPU each),
    and when `min_replicas` is not configured either, run all of them from the start: one machine gains nothing
    from scaling down, and on 2 cores one 1-CPU replica gave 236 routes/s at c=32, two gave 322
    (docs/benchmarks.md). Returns the args and the line to print (None: the configuration is kept as it is)."""
    router = args.router
    given = router.model_fields_set if "router" in args.model_fields_set else set()
    if "num_cpus" in given:
        return args, None
    scaling = router.autoscaling
    scaling_given = scaling.model_fields_set if "autoscaling" in given else set()
    ingress_cpus = args.ingress.num_cpus * args.ingress.num_replicas
    replica_cpus = min(1.0, math.floor((cluster_cpus - ingress_cpus) / scaling.max_replicas * 20) / 20)
    if replica_cpus <= 0:
        return args, None
    chosen = router.model_dump(mode="json", exclude_unset=True) | {"num_cpus": replica_cpus}
    fixed = not scaling_given & {"min_replicas", "initial_replicas"}
    if fixed:
        chosen["autoscaling"] = scaling.model_dump(mode="json", exclude_unset=True) | {
            "min_replicas": scaling.max_replicas
        }
    updated = ServeAppArgs.model_validate(args.model_dump(mode="json", exclude_unset=True) | {"router": chosen})
    count = f"{scaling.max_replicas} router replicas" + (" from the start" if fixed else " at most")
    line = (
        f"{count}, {replica_cpus:g} CPU each, to fit beside the ingress on this Ray's {cluster_cpus:g} CPUs "
        "(override with --replica-cpus / --min-replicas / --max-replicas or router.* in --config)"
    )
    return updated, line
