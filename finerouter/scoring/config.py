"""The `generation.scoring` section: how graders that run code are isolated."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from finerouter.config_model import ConfigModel


class ScoringConfig(ConfigModel):
    sandbox: Literal["bwrap", "guard-only"] = Field(
        "bwrap",
        description="isolation of graded code: 'bwrap' (bubblewrap; grading fails with an install hint where it is "
        "missing) or 'guard-only' (UNSAFE: in-process guard only, for machines that cannot have bubblewrap)",
    )

    def grader_options(self, grader: str) -> dict[str, str]:
        """Keyword arguments this section adds to `grader`."""
        return {"sandbox": self.sandbox} if grader == "code" else {}
