"""The HTTP ingress deployment: a FastAPI app built per replica from the typed app args."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from ray import serve

from serve_app.api import build_api
from serve_app.config import IngressBatching, ServiceArgs
from serve_app.service import RoutingService


@serve.deployment(name="Ingress")
@serve.ingress()
class Ingress:
    def __init__(self, args: dict[str, Any], router: Any, batching: dict[str, Any] | None = None) -> None:
        batching_args = IngressBatching.model_validate(batching or {})
        self._service = RoutingService(ServiceArgs.model_validate(args), router, batching_args)

    def __serve_build_asgi_app__(self) -> FastAPI:
        return build_api(self._service)
