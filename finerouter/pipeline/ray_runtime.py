"""Connecting to Ray: an existing cluster when one is named, else an embedded local one."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from finerouter.config import RayConfig

log = logging.getLogger("finerouter.ray")


def resolve_address(cfg: RayConfig) -> str | None:
    """Config's address wins, then RAY_ADDRESS (set by `ray job submit`); None means start a local Ray."""
    return cfg.address or os.environ.get("RAY_ADDRESS") or None


def ensure_ray(cfg: RayConfig) -> None:
    import ray

    if ray.is_initialized():
        return
    address = resolve_address(cfg)
    if address:
        log.info("connecting to the Ray cluster at %s", address)
        ray.init(address=address, namespace=cfg.namespace, logging_level=logging.WARNING)
    else:
        log.info(
            "starting a local Ray with %s CPUs (set ray.address or RAY_ADDRESS to use a cluster)",
            cfg.num_cpus,
        )
        ray.init(
            num_cpus=cfg.num_cpus,
            num_gpus=cfg.num_gpus,
            include_dashboard=cfg.dashboard,
            namespace=cfg.namespace,
            logging_level=logging.WARNING,
        )
