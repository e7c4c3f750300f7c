"""A router class for the serving tests (`router_class: tests.serve_app.faulty_router:FaultyRouter`): the real
Router, with two hooks. `load` waits while a file `<bundle>.hold` exists (a bundle that is still loading), and a
prompt holding FAULT fails with a RuntimeError inside the router (an internal fault of that one query)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from finerouter.routing.router import Router

FAULT = "INJECTED-ROUTER-FAULT"
HOLD_LIMIT_S = 300.0


def hold_file(bundle: str | Path) -> Path:
    return Path(f"{Path(bundle).resolve()}.hold")


class FaultyRouter(Router):
    @classmethod
    def load(cls, path: str | Path, **options: Any) -> Router:
        hold, deadline = hold_file(path), time.monotonic() + HOLD_LIMIT_S
        while hold.exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{hold} still exists after {HOLD_LIMIT_S} s")
            time.sleep(0.1)
        return super().load(path, **options)

    def embed(self, prompts: Any) -> Any:
        if any(FAULT in prompt for prompt in prompts):
            raise RuntimeError("injected fault inside the router")
        return super().embed(prompts)
