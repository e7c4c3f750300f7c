"""Configuration of the rebuild's `evaluate` stage."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from finerouter.config_model import ConfigModel


class EvaluateConfig(ConfigModel):
    model_config = ConfigDict(extra="forbid")

    sweep: Literal["tau", "lambda", "auto"] = Field(
        "auto",
        description="cost setting that traces every router's cost-quality curve (and so its AIQ and cost to match "
        "the best single model): tolerance tau, willingness-to-pay lambda, or auto = per router, whichever of the "
        "two has the higher AIQ on dev (the same rule for every router; test never chooses)",
    )
    ablations: bool = Field(
        False,
        description="also evaluate FineRouter's ablations (stage 2 without the prior, general heads only, the prior "
        "alone, source labels as tasks, trained with the stage2 settings) and the test quality at every alpha; "
        "the baselines are always evaluated",
    )
