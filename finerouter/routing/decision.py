"""What a routing decision carries: the choice and why (the contract of `Router.route` and the HTTP API)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class RouteDecision:
    model: str
    task_id: int | None  # None: the classifier assigned no task ("Others")
    task_summary: str | None
    confidence: float  # the classifier's score of the assigned task (of the best task when none was assigned)
    scores: dict[str, float]  # fused score of every model considered, higher is better
    estimated_cost: float | None  # expected cost of the chosen model, in `cost_unit`
    cost_unit: str
    bundle_version: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
