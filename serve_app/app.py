"""The application builder: `serve run serve_app.config.yaml`, `serve run serve_app.app:build_app bundle=DIR`,
or `finerouter serve --bundle DIR`."""

from __future__ import annotations

from ray.serve import Application

from serve_app.config import ServeAppArgs
from serve_app.ingress import Ingress
from serve_app.router_deployment import RouterDeployment


def build_app(args: ServeAppArgs) -> Application:
    """Ingress (FastAPI) -> Router deployment (batched, autoscaled). The bundle goes in the router's `user_config`,
    so deploying the same app with a new `bundle` swaps it in place without restarting replicas."""
    router_args = args.router
    router = RouterDeployment.options(
        autoscaling_config=router_args.autoscaling.to_serve(),
        max_ongoing_requests=router_args.max_ongoing_requests,
        ray_actor_options={"num_cpus": router_args.num_cpus},
        graceful_shutdown_timeout_s=router_args.graceful_shutdown_timeout_s,
        user_config={"bundle": str(args.bundle)},
    ).bind(
        args.router_class,
        sorted(args.referenced_models()),
        router_args.max_batch_size,
        router_args.batch_wait_timeout_s,
    )
    ingress = Ingress.options(
        num_replicas=args.ingress.num_replicas,
        max_ongoing_requests=args.ingress.max_ongoing_requests,
        ray_actor_options={"num_cpus": args.ingress.num_cpus},
    )
    return ingress.bind(args.service().model_dump(mode="json"), router)
