"""RoutingTable: the validated prompts / models / outcomes tables every stage reads."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from finerouter.data.schema import FORMAT_VERSION, MANIFEST_FILE, SCHEMAS, TABLE_FILES
from finerouter.data.splits import (
    SplitConfig,
    assign_splits,
    drop_cross_split_duplicates,
    hold_out_source_test,
    sample_prompts,
    subsample_train,
)
from finerouter.data.textio import read_json
from finerouter.data.validate import (
    conform,
    empty_rejected,
    reasons_by_key,
    rejected_frame,
    validate_models,
    validate_outcomes,
    validate_prompts,
)
from finerouter.errors import DataError


@dataclass
class RawTable:
    """What an importer produces: unvalidated frames, records it already rejected, and notes."""

    prompts: pd.DataFrame
    models: pd.DataFrame
    outcomes: pd.DataFrame
    rejected: pd.DataFrame = field(default_factory=empty_rejected)
    report: dict[str, Any] = field(default_factory=dict)


@dataclass
class RoutingTable:
    prompts: pd.DataFrame
    models: pd.DataFrame
    outcomes: pd.DataFrame
    rejected: pd.DataFrame
    manifest: dict[str, Any]

    # ---- building -------------------------------------------------------------------------------
    @classmethod
    def build(cls, raw: RawTable, split: SplitConfig | None = None, origin: str = "") -> RoutingTable:
        """Validate, split, de-duplicate across splits; every input row ends kept or rejected."""
        split = split or SplitConfig()
        counts_in = {"prompts": len(raw.prompts), "models": len(raw.models), "outcomes": len(raw.outcomes)}
        prompts, rej_p = validate_prompts(raw.prompts)
        models, rej_m = validate_models(raw.models)
        prompts, rej_held, held_report = hold_out_source_test(prompts, split)
        prompts, split_report = assign_splits(prompts, split)
        prompts, rej_dup, dup_report = drop_cross_split_duplicates(prompts)
        prompts, rej_sample = sample_prompts(prompts, split)
        prompts, rej_train = subsample_train(prompts, split)
        rej_dup = pd.concat([rej_held, rej_dup, rej_sample, rej_train], ignore_index=True)
        why = reasons_by_key(pd.concat([rej_p, rej_dup]), "prompt_id")
        why_model = reasons_by_key(rej_m, "model")
        outcomes, rej_o = validate_outcomes(raw.outcomes, prompts["prompt_id"], models["model"], why, why_model)
        outcomes, rej_cost = keep_one_cost_basis(outcomes)
        no_outcomes = ~prompts["prompt_id"].isin(set(outcomes["prompt_id"]))
        rej_empty = rejected_frame("prompts", prompts[no_outcomes], "no valid outcomes for this prompt")
        prompts = prompts[~no_outcomes].reset_index(drop=True)
        unused = ~models["model"].isin(set(outcomes["model"]))
        rej_unused = rejected_frame("models", models[unused], "no valid outcomes for this model")
        models = models[~unused].reset_index(drop=True)
        rejected = pd.concat(
            [raw.rejected, rej_p, rej_m, rej_dup, rej_empty, rej_unused, rej_o, rej_cost], ignore_index=True
        ).reset_index(drop=True)
        kept = {"prompts": len(prompts), "models": len(models), "outcomes": len(outcomes)}
        rejected_by_table = rejected["table"].value_counts().to_dict()
        counts = {
            name: {"in": counts_in[name], "kept": kept[name], "rejected": int(rejected_by_table.get(name, 0))}
            for name in counts_in
        }
        for name, c in counts.items():
            if c["in"] != c["kept"] + c["rejected"]:
                raise AssertionError(f"{name} counts do not reconcile: {c}")
        # No timestamp: the same import writes the same bytes, so re-importing touched but unchanged sources does
        # not make every later stage run again (their keys hold the table's content fingerprint).
        manifest = {
            "format_version": FORMAT_VERSION,
            "origin": origin,
            "counts": counts,
            "source_rejected": int(rejected_by_table.get("source", 0)),
            "split_config": split.model_dump(),
            "split_report": {**split_report, **held_report, **dup_report},
            "importer_report": raw.report,
        }
        table = cls(prompts, models, outcomes, rejected, manifest)
        table.manifest["rejected_reasons"] = table.rejection_summary()
        return table

    # ---- storage ------------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        for name, frame in self.frames().items():
            arrow = pa.Table.from_pandas(conform_for_write(name, frame), schema=SCHEMAS[name], preserve_index=False)
            pq.write_table(arrow, out / TABLE_FILES[name])
        (out / MANIFEST_FILE).write_text(json.dumps(self.manifest, indent=2, default=str) + "\n")
        return out

    @classmethod
    def load(cls, directory: str | Path) -> RoutingTable:
        """Read and re-validate a saved table; anything that would be rejected now is an error."""
        path = Path(directory)
        if not path.is_dir():
            raise DataError(f"routing table directory {str(path)!r} does not exist")
        missing = [f for f in (*TABLE_FILES.values(), MANIFEST_FILE) if not (path / f).exists()]
        if missing:
            raise DataError(
                f"{str(path)!r} is not a routing table: missing {missing} (create one with `finerouter import`)"
            )
        frames = {name: read_parquet(path / TABLE_FILES[name]) for name in TABLE_FILES}
        manifest = read_manifest(path / MANIFEST_FILE)
        prompts, rej_p = validate_prompts(frames["prompts"])
        models, rej_m = validate_models(frames["models"])
        outcomes, rej_o = validate_outcomes(frames["outcomes"], prompts["prompt_id"], models["model"])
        problems = pd.concat([rej_p, rej_m, rej_o], ignore_index=True)
        if len(problems):
            first = problems.iloc[0]
            raise DataError(
                f"routing table {str(path)!r} has {len(problems)} invalid row(s); first: "
                f"{first['table']}: {first['reason']}: {first['record'][:200]}"
            )
        if prompts.empty or outcomes.empty:
            raise DataError(f"routing table {str(path)!r} is empty ({len(prompts)} prompts, {len(outcomes)} outcomes)")
        for name, frame in (("prompts", prompts), ("models", models), ("outcomes", outcomes)):
            expected = manifest.get("counts", {}).get(name, {}).get("kept")
            if expected is not None and expected != len(frame):
                raise DataError(f"{name}.parquet has {len(frame)} rows but manifest.json records {expected}")
        return cls(prompts, models, outcomes, frames["rejected"], manifest)

    def frames(self) -> dict[str, pd.DataFrame]:
        return {
            "prompts": self.prompts,
            "models": self.models,
            "outcomes": self.outcomes,
            "rejected": self.rejected,
        }

    # ---- views --------------------------------------------------------------------------------
    @property
    def model_names(self) -> list[str]:
        return list(self.models["model"])

    def split(self, name: str) -> RoutingTable:
        """The table restricted to one split (models kept whole so matrices stay aligned)."""
        prompts = self.prompts[self.prompts["split"] == name].reset_index(drop=True)
        outcomes = self.outcomes[self.outcomes["prompt_id"].isin(set(prompts["prompt_id"]))].reset_index(drop=True)
        return RoutingTable(prompts, self.models, outcomes, self.rejected, self.manifest)

    @property
    def cost_basis(self) -> str:
        """'call': every outcome has a USD cost; 'price': blended model price (USD per 1M tokens); 'none'."""
        if len(self.outcomes) and self.outcomes["cost"].notna().all():
            return "call"
        if len(self.models) and self.models[["input_price", "output_price"]].notna().all().all():
            return "price"
        return "none"

    def quality_matrix(self) -> np.ndarray:
        """(prompts x models) quality in prompts / models row order; NaN where an outcome is missing."""
        return self._pivot("quality")

    def cost_matrix(self) -> np.ndarray:
        """(prompts x models) cost per call in USD, or the model's blended price where costs are absent."""
        basis = self.cost_basis
        if basis == "call":
            return self._pivot("cost")
        if basis == "price":
            blended = ((self.models["input_price"] + self.models["output_price"]) / 2).to_numpy()
            costs = np.broadcast_to(blended, (len(self.prompts), len(blended))).copy()
            costs[np.isnan(self.quality_matrix())] = np.nan
            return costs
        return np.full((len(self.prompts), len(self.models)), np.nan)

    def _pivot(self, column: str) -> np.ndarray:
        rows = pd.Index(self.prompts["prompt_id"]).get_indexer(self.outcomes["prompt_id"])
        cols = pd.Index(self.models["model"]).get_indexer(self.outcomes["model"])
        out = np.full((len(self.prompts), len(self.models)), np.nan)
        out[rows, cols] = self.outcomes[column].to_numpy(dtype=np.float64, na_value=np.nan)
        return out

    def rejection_summary(self) -> dict[str, int]:
        """Rejections grouped by table and reason, with per-value details (ids, names) folded away."""
        if self.rejected.empty:
            return {}
        keys = self.rejected["table"] + ": " + self.rejected["reason"].str.replace(r"'[^']*'", "'…'", regex=True)
        return {k: int(v) for k, v in keys.value_counts().items()}


def keep_one_cost_basis(outcomes: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Outcomes lacking a cost where the others have a per-call cost are rejected: one blank cell would otherwise
    turn the whole table's cost basis (`RoutingTable.cost_basis`) from per-call costs to prices or none."""
    missing = outcomes["cost"].isna()
    if not missing.any() or missing.all():
        return outcomes, empty_rejected()
    reason = (
        "cost missing while the other outcomes of the table have a per-call cost "
        "(keeping it would drop the per-call cost basis of the whole table)"
    )
    return outcomes[~missing].reset_index(drop=True), rejected_frame("outcomes", outcomes[missing], reason)


def read_parquet(file: Path) -> pd.DataFrame:
    try:
        return pq.read_table(file).to_pandas()
    except (pa.ArrowException, OSError) as exc:
        raise DataError(
            f"{str(file)!r} is not a readable Parquet file ({exc}); re-create the table with `finerouter import`"
        ) from exc


def read_manifest(file: Path) -> dict[str, Any]:
    manifest = read_json(file)
    if not isinstance(manifest, dict):
        raise DataError(f"{str(file)!r} must hold a JSON object, not a JSON {type(manifest).__name__}")
    return manifest


def conform_for_write(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    return frame if name == "rejected" else conform(name, frame)
