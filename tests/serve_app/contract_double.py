"""A stand-in implementing the Router contract (BRIEF.md), used by the HTTP-layer unit tests only.

It is not a router: it picks by keyword so the tests can predict the answer. The end-to-end tests use the real
`finerouter.routing.router.Router` and a bundle built from real data.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from finerouter.errors import InvalidRequestError
from finerouter.routing.decision import RouteDecision

TASKS = {1: "arithmetic word problems", 2: "python code"}


def write_double_bundle(path: Path, version: str, models: dict[str, float]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "double.json").write_text(json.dumps({"version": version, "model_cost": models}))
    return path


class ContractDoubleRouter:
    def __init__(self, version: str, model_cost: dict[str, float]) -> None:
        self.version = version
        self.models = list(model_cost)
        self.model_cost = model_cost
        self.cost_unit = "USD"

    @classmethod
    def load(cls, path: str | Path) -> ContractDoubleRouter:
        spec = json.loads((Path(path) / "double.json").read_text())
        return cls(spec["version"], spec["model_cost"])

    def task(self, task_id: int) -> dict:
        return {"id": task_id, "summary": TASKS[task_id], "size": 10, "candidates": self.models}

    def route(
        self,
        prompts: Sequence[str],
        *,
        tolerance: float | None = None,
        max_cost: float | None = None,
        models: Sequence[str] | None = None,
    ) -> list[RouteDecision]:
        if models is not None:
            if not models:
                raise InvalidRequestError(f"models is empty; choose from {self.models}")
            unknown = [m for m in models if m not in self.models]
            if unknown:
                raise InvalidRequestError(f"unknown models {unknown}; the pool is {self.models}")
        if tolerance is not None and tolerance < 0:
            raise InvalidRequestError(f"tolerance must be >= 0, got {tolerance}")
        allowed = [m for m in (models or self.models) if max_cost is None or self.model_cost[m] <= max_cost]
        if not allowed:
            raise InvalidRequestError(f"no allowed model costs <= {max_cost}: costs are {self.model_cost}")
        decisions = []
        for prompt in prompts:
            if not prompt.strip():
                raise InvalidRequestError("prompt is empty")
            task = 1 if any(c.isdigit() for c in prompt) else 2 if "python" in prompt.lower() else None
            # the priciest allowed model scores best; a tolerance >= 1 takes the cheapest
            scores = {m: self.model_cost[m] / max(self.model_cost.values()) for m in allowed}
            best = max(scores.values())
            within = [m for m in allowed if scores[m] >= best - (tolerance or 0.0)]
            chosen = min(within, key=lambda m: self.model_cost[m])
            decisions.append(
                RouteDecision(
                    chosen,
                    task,
                    TASKS.get(task) if task else None,
                    0.9 if task else 0.2,
                    scores,
                    self.model_cost[chosen],
                    self.cost_unit,
                    self.version,
                )
            )
        return decisions
