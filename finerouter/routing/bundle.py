"""The router bundle: everything the online `Router` needs, in one directory that loads without Ray.

    bundle.json           `BundleMeta`: format_version, version, models, expected cost per model, alpha, task_heads
                          (route with the task heads or the general heads only), score_scale (the fused scores'
                          scale, quality or minmax), routing_threshold, tolerance, encoder reference, network sizes,
                          dev calibration, lineage
    weights.safetensors   classifier.{W,u,b}, estimator.* (adapter, model embeddings, general and task heads,
                          slot table; with an ensemble of N estimators, members 1..N-1 as estimator_<i>.*),
                          priors (stage-1 prior per task and model, by `prior`; last row = no task)
    tasks.parquet         the discovered tasks: task_id, size, summary, candidates, prior, ...
    encoder/              only with `stage2.encoder: finetune`: the fine-tuned sentence encoder (a
                          sentence-transformers directory); bundle.json's encoder entry then names it

Bundles written before `format_version` existed (`"format": 1`) are migrated on read (`migrate_meta`); a newer
format_version is refused with a message naming it. Bundles are assembled and written by `finerouter.build`.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from finerouter.errors import DataError
from finerouter.stage2.models import member_prefix, member_tensors

FORMAT_VERSION = 2  # 1: the unversioned bundle.json (`"format": 1`), migrated on read
LEGACY_FORMAT = 1
META_FILE = "bundle.json"
WEIGHTS_FILE = "weights.safetensors"
TASKS_FILE = "tasks.parquet"
EXTRA_DIRS = ("encoder",)  # directories a bundle may carry, by name
NOT_HASHED = ("version", "created", "source_run")  # where and when it was built is recorded, not hashed


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EncoderReference(_Record):
    """The prompt encoder: the embed stage's by name (frozen), or the fine-tuned copy in the bundle's `name`/."""

    mode: Literal["frozen", "finetune"]
    name: str
    dim: int
    base: str | None = None  # finetune: the encoder it was fine-tuned from


class EstimatorDims(_Record):
    """Sizes of the quality estimator(s); `members` is written only for an ensemble (a single estimator's entry is
    as it was before ensembles)."""

    input_dim: int
    n_models: int
    adapter_dim: int
    model_dim: int
    hidden: int
    dropout: float
    members: int = Field(1, ge=1)


class PriorRecord(_Record):
    """How the stage-1 priors were computed (per-model statistic of a task's prompts, shrunk by `shrinkage`)."""

    statistic: Literal["median", "mean"] = "median"
    shrinkage: float = 0.0


class BundleMeta(_Record):
    """bundle.json. `version` and `created` are set when the bundle is written (`save_bundle`)."""

    format_version: int = FORMAT_VERSION
    version: str = ""
    created: str | None = None
    name: str
    revision: int = 1
    parent_version: str | None = None
    source_run: str | None = None
    models: list[str]
    model_cost: dict[str, float | None]
    cost_unit: str
    task_ids: list[int]
    routing_threshold: float = Field(description="the classifier score a prompt needs to take its task")
    classifier_threshold: float | None = Field(None, description="the threshold tuned with the classifier on dev")
    encoder: EncoderReference
    estimator: EstimatorDims
    alpha: float
    task_heads: bool = Field(description="route with the task heads (else the general heads only)")
    score_scale: Literal["quality", "minmax"]
    tolerance: float = Field(ge=0, description="the default tolerance (tau)")
    prior: PriorRecord
    classifier_dev: dict[str, Any] | None = None
    calibration: dict[str, Any] | None = None
    added_models: list[dict[str, Any]] = Field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The entries given (read or set), as bundle.json holds them: defaults never given stay unwritten."""
        return self.model_dump(mode="json", exclude_unset=True)

    def with_updates(self, **entries: Any) -> BundleMeta:
        """A copy with `entries` replaced, validated (and counted as given, so they are written)."""
        return BundleMeta.model_validate({**self.to_json(), **entries})


def migrate_meta(raw: dict[str, Any], where: str = "bundle") -> dict[str, Any]:
    """bundle.json of any known format as the current format: an unversioned bundle (`"format": 1`) gets its
    `threshold` as `routing_threshold` and the defaults the Router used to fill in (task heads on, min-max scores,
    the paper's median prior unshrunk); a newer or unknown format_version is refused."""
    if "format_version" in raw:
        version = raw["format_version"]
        if version != FORMAT_VERSION:
            raise DataError(
                f"{where} has bundle format_version {version!r}; this FineRouter reads format_version "
                f"{FORMAT_VERSION} (and migrates unversioned bundles): upgrade finerouter to load it"
            )
        return dict(raw)
    if raw.get("format") != LEGACY_FORMAT:
        raise DataError(
            f"{where} has bundle format {raw.get('format')!r} and no format_version; this FineRouter reads "
            f"format_version {FORMAT_VERSION} and migrates format {LEGACY_FORMAT}"
        )
    meta = {k: v for k, v in raw.items() if k not in ("format", "threshold")}
    meta["format_version"] = FORMAT_VERSION
    meta["routing_threshold"] = raw["threshold"]
    meta.setdefault("task_heads", True)  # bundles before the choice used the task heads
    meta.setdefault("score_scale", "minmax")  # bundles before the option were min-max
    meta.setdefault("prior", PriorRecord().model_dump())  # bundles before the option had the paper's prior
    return meta


def parse_meta(raw: dict[str, Any], where: str = "bundle") -> BundleMeta:
    try:
        return BundleMeta.model_validate(migrate_meta(raw, where))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
        raise DataError(f"{where} has an invalid bundle.json: {problems}") from None


@dataclass
class BundleParts:
    meta: BundleMeta
    tensors: dict[str, torch.Tensor]
    tasks: pd.DataFrame
    extra_files: dict[str, Path] = field(default_factory=dict)  # name in the bundle (one of EXTRA_DIRS) -> source

    def classifier_state(self) -> dict[str, torch.Tensor]:
        return {k[len("classifier.") :]: v for k, v in self.tensors.items() if k.startswith("classifier.")}

    def member_states(self) -> list[dict[str, torch.Tensor]]:
        """Each estimator member's weights, member 0 first."""
        states = []
        for member in range(self.meta.estimator.members):
            weights = member_tensors(self.tensors, member)
            if not weights:
                raise DataError(f"bundle {self.meta.version}: estimator member {member} has no weights")
            states.append(weights)
        return states


def bundle_tensors(
    classifier: dict[str, torch.Tensor], members: list[dict[str, torch.Tensor]], priors: torch.Tensor
) -> dict[str, torch.Tensor]:
    """The weights file's names: classifier.*, estimator.* / estimator_<i>.* per member, priors."""
    tensors = {f"classifier.{k}": v for k, v in classifier.items()}
    for member, state in enumerate(members):
        tensors |= {f"{member_prefix(member)}{k}": v for k, v in state.items()}
    return tensors | {"priors": priors}


def save_bundle(parts: BundleParts, out_dir: str | Path) -> Path:
    """Write a bundle; its version is its name, revision and a hash of its content (same content, same version)."""
    from safetensors.torch import save_file

    out = Path(out_dir)
    scratch = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    # clone: ensemble members share one slot table in memory, and safetensors refuses shared storage
    tensors = {k: v.detach().cpu().clone().contiguous() for k, v in parts.tensors.items()}
    save_file(tensors, scratch / WEIGHTS_FILE)
    parts.tasks.to_parquet(scratch / TASKS_FILE, index=False)
    given = parts.meta.to_json()
    meta = {"format_version": FORMAT_VERSION, **{k: v for k, v in given.items() if k not in ("version", "created")}}
    digest = hashlib.sha256((scratch / WEIGHTS_FILE).read_bytes())
    digest.update((scratch / TASKS_FILE).read_bytes())
    for name, source in sorted(parts.extra_files.items()):
        if name not in EXTRA_DIRS:
            raise ValueError(f"a bundle carries only {', '.join(EXTRA_DIRS)}, not {name!r}")
        shutil.copytree(source, scratch / name)
        for file in sorted(p for p in (scratch / name).rglob("*") if p.is_file()):
            digest.update(str(file.relative_to(scratch)).encode())
            digest.update(file.read_bytes())
    content = {k: v for k, v in meta.items() if k not in NOT_HASHED}
    digest.update(json.dumps(content, sort_keys=True, default=str).encode())
    meta = {
        "format_version": FORMAT_VERSION,
        "version": f"{parts.meta.name}-r{parts.meta.revision}-{digest.hexdigest()[:10]}",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        **meta,
    }
    (scratch / META_FILE).write_text(json.dumps(meta, indent=2, default=str) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    scratch.rename(out)
    return out


def read_meta(path: str | Path) -> BundleMeta:
    """bundle.json of the bundle directory `path`, migrated to the current format."""
    meta_file = Path(path) / META_FILE
    if not meta_file.is_file():
        raise DataError(f"{str(path)!r} is not a router bundle: missing {META_FILE}")
    return parse_meta(json.loads(meta_file.read_text()), f"bundle {str(path)!r}")


def read_bundle(path: str | Path) -> BundleParts:
    from safetensors.torch import load_file

    root = Path(path)
    missing = [f for f in (META_FILE, WEIGHTS_FILE, TASKS_FILE) if not (root / f).is_file()]
    if missing:
        raise DataError(f"{str(root)!r} is not a router bundle: missing {', '.join(missing)}")
    meta = read_meta(root)
    extra = {name: root / name for name in EXTRA_DIRS if (root / name).is_dir()}
    encoder = meta.encoder
    if encoder.mode == "finetune" and encoder.name not in extra:
        raise DataError(f"bundle {str(root)!r} routes with a fine-tuned encoder but has no {encoder.name}/")
    return BundleParts(meta, load_file(root / WEIGHTS_FILE), pd.read_parquet(root / TASKS_FILE), extra)
