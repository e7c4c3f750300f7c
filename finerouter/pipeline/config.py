"""The part of a configuration the pipeline itself reads: the run's name and directory, the seed and Ray.

The rebuild's full configuration (finerouter.config.RebuildConfig) extends it with a section per stage; the runner,
its preflight and the stage contract see only these fields.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, field_validator

from finerouter.config_model import ConfigModel
from finerouter.ray_config import RayConfig


class PipelineConfig(ConfigModel):
    run: str = Field("default", description="run name: artifacts go to <artifacts_dir>/<run>/")
    artifacts_dir: Path = Path("artifacts")
    seed: int = 0
    ray: RayConfig = Field(default_factory=RayConfig)

    @field_validator("run")
    @classmethod
    def _safe_run_name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", value):
            raise ValueError(f"run name {value!r} must be letters, digits, '.', '_' or '-'")
        return value

    @property
    def run_dir(self) -> Path:
        return self.artifacts_dir / self.run
