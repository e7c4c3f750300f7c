"""Deterministic train/dev/test assignment and removal of cross-split duplicate prompts."""

from __future__ import annotations

import hashlib
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import ConfigDict, Field, model_validator

from finerouter.config_model import ConfigModel
from finerouter.data.schema import SPLITS
from finerouter.data.validate import rejected_frame
from finerouter.errors import DataError


class ResplitConfig(ConfigModel):
    """Re-splitting a table for the cross-validation and learning-curve benchmarks (benchmarks/README.md)."""

    model_config = ConfigDict(extra="forbid")

    source_splits: Literal["keep", "ignore", "exclude_test"] = Field(
        "keep",
        description="keep: a prompt's split from the source is used, only prompts without one are hashed. ignore: "
        "every prompt is assigned by hash (cross-validation folds of a table that ships splits). exclude_test: the "
        "source's test prompts are rejected (held out, with that reason) and the rest hashed: folds for development "
        "that never see the shipped test split.",
    )
    rotate: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="Shifts every prompt's hash (mod 1) before the fractions cut it. With test = 1/K, the rotations "
        "0, 1/K, ..., (K-1)/K give K disjoint test sets that cover every prompt: K-fold cross-validation.",
    )
    train_subsample: float | None = Field(
        None,
        gt=0,
        le=1,
        description="Keep a deterministic hash sample of this fraction of the train prompts, dev and test untouched "
        "(learning curves); the others are recorded in rejected.parquet with the reason. None: keep all.",
    )


class SplitConfig(ConfigModel):
    """How prompts without a source split are assigned, by a hash of their prompt_id."""

    model_config = ConfigDict(extra="forbid")

    train: float = Field(0.8, ge=0, le=1)
    dev: float = Field(0.1, ge=0, le=1)
    test: float = Field(0.1, ge=0, le=1)
    dev_from_train: float = Field(
        0.1,
        ge=0,
        lt=1,
        description="When a table has train and test but no dev prompts, this fraction of train becomes dev.",
    )
    salt: str = Field("finerouter", description="Changes the hash assignment; keep it fixed for reproducibility.")
    sample_prompts: int | None = Field(
        None,
        ge=1,
        description="Keep a deterministic hash sample of this many prompts (quick trials, tests); the others are "
        "recorded in rejected.parquet with the reason. None: keep all.",
    )
    experimental: ResplitConfig = Field(
        default_factory=ResplitConfig,
        description="EXPERIMENTAL, for the cross-validation and learning-curve benchmarks: may change without notice",
    )

    @model_validator(mode="after")
    def _fractions_sum_to_one(self) -> SplitConfig:
        total = self.train + self.dev + self.test
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"split fractions train+dev+test must sum to 1, got {total:g}")
        return self


def hash_unit(prompt_ids: pd.Series, salt: str) -> np.ndarray:
    """A stable pseudo-uniform number in [0, 1) per prompt_id (sha256, independent of row order)."""
    digests = [hashlib.sha256(f"{salt}\x00{pid}".encode()).digest()[:8] for pid in prompt_ids]
    return np.array([int.from_bytes(d, "big") for d in digests], dtype=np.float64) / 2.0**64


def assign_splits(prompts: pd.DataFrame, cfg: SplitConfig) -> tuple[pd.DataFrame, dict[str, int]]:
    """Fill missing splits by hash; carve dev out of train when the source split has none."""
    out = prompts.copy()
    resplit = cfg.experimental
    u = (hash_unit(out["prompt_id"], cfg.salt) + resplit.rotate) % 1.0
    from_source = out["split"].notna().to_numpy()
    missing = ~from_source if resplit.source_splits == "keep" else np.ones(len(out), dtype=bool)
    by_hash = np.where(u < cfg.train, "train", np.where(u < cfg.train + cfg.dev, "dev", "test"))
    out.loc[missing, "split"] = by_hash[missing]
    report = {
        "split_from_source": int((~missing).sum()),
        "split_by_hash": int(missing.sum()),
        "dev_from_train": 0,
    }
    if resplit.source_splits != "keep":
        report["source_split_ignored"] = int((from_source & missing).sum())
    has_dev = (out["split"] == "dev").any()
    if not has_dev and cfg.dev_from_train > 0 and (out["split"] == "train").any():
        # A second, independent hash so the carve does not correlate with the first assignment.
        u2 = hash_unit(out["prompt_id"], cfg.salt + "/dev")
        carve = (out["split"] == "train").to_numpy() & (u2 < cfg.dev_from_train)
        out.loc[carve, "split"] = "dev"
        report["dev_from_train"] = int(carve.sum())
    return out, report


def hold_out_source_test(prompts: pd.DataFrame, cfg: SplitConfig) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int]]:
    """With `source_splits: exclude_test`, the source's test prompts become rejected rows with the reason, counted
    in the returned report (empty otherwise)."""
    if cfg.experimental.source_splits != "exclude_test":
        return prompts, rejected_frame("prompts", prompts.iloc[:0], ""), {}
    held = (prompts["split"] == "test").to_numpy()
    if not held.any():
        raise DataError(
            "data.split.experimental.source_splits is 'exclude_test' but the source has no test prompts to hold out"
        )
    reason = "source test split held out (data.split.experimental.source_splits: exclude_test)"
    rejected = rejected_frame("prompts", prompts[held], reason)
    return prompts[~held].reset_index(drop=True), rejected, {"source_test_held_out": int(held.sum())}


def sample_prompts(prompts: pd.DataFrame, cfg: SplitConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The `cfg.sample_prompts` prompts of lowest hash (a uniform sample, stable under row order), and the rest
    as rejected rows with the reason."""
    if cfg.sample_prompts is None or len(prompts) <= cfg.sample_prompts:
        return prompts, rejected_frame("prompts", prompts.iloc[:0], "")
    keep = _lowest_hash(prompts["prompt_id"], cfg.salt + "/sample", cfg.sample_prompts)
    reason = f"not in the sample of {cfg.sample_prompts} prompts (data.split.sample_prompts)"
    return prompts[keep].reset_index(drop=True), rejected_frame("prompts", prompts[~keep], reason)


def subsample_train(prompts: pd.DataFrame, cfg: SplitConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The `train_subsample` fraction of the train prompts of lowest hash with every dev and test prompt, and
    the other train prompts as rejected rows with the reason. A smaller fraction keeps a subset of a larger one."""
    train = (prompts["split"] == "train").to_numpy()
    share = cfg.experimental.train_subsample
    if share is None or share == 1.0 or not train.any():
        return prompts, rejected_frame("prompts", prompts.iloc[:0], "")
    keep = np.ones(len(prompts), dtype=bool)
    n_keep = max(1, round(share * int(train.sum())))
    keep[train] = _lowest_hash(prompts.loc[train, "prompt_id"], cfg.salt + "/train", n_keep)
    reason = f"train prompt not in the {share:g} subsample (data.split.experimental.train_subsample)"
    return prompts[keep].reset_index(drop=True), rejected_frame("prompts", prompts[~keep], reason)


def _lowest_hash(prompt_ids: pd.Series, salt: str, n: int) -> np.ndarray:
    """Mask of the n ids of lowest hash: a uniform sample, stable under row order."""
    order = np.argsort(hash_unit(prompt_ids, salt), kind="stable")
    keep = np.zeros(len(prompt_ids), dtype=bool)
    keep[order[:n]] = True
    return keep


def drop_cross_split_duplicates(prompts: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int]]:
    """Exact duplicate prompt texts in different splits keep only their copies in the earliest split.

    Priority is train > dev > test, so a prompt seen in training never reaches evaluation. Duplicates
    inside one split are separate observations and stay; they are counted in the report.
    """
    order = {name: i for i, name in enumerate(SPLITS)}
    rank = prompts["split"].map(order)
    text = prompts["prompt"].str.strip()
    first_rank = rank.groupby(text).transform("min")
    leak = rank > first_rank
    keeper = (
        prompts.assign(_rank=rank, _text=text)
        .sort_values(["_rank"], kind="stable")
        .drop_duplicates("_text", keep="first")
        .set_index("_text")
    )
    reasons = pd.Series(
        [
            f"duplicate of prompt_id {keeper.at[t, 'prompt_id']!r} in split {keeper.at[t, 'split']!r}: "
            f"removed from {s!r} so it cannot leak across splits"
            for t, s in zip(text[leak], prompts["split"][leak], strict=True)
        ],
        index=prompts.index[leak],
        dtype=object,
    )
    rejected = rejected_frame("prompts", prompts[leak], reasons)
    kept = prompts[~leak].reset_index(drop=True)
    within = int(kept.assign(_t=kept["prompt"].str.strip()).duplicated(["_t", "split"]).sum())
    return (
        kept,
        rejected,
        {"cross_split_duplicates_removed": int(leak.sum()), "within_split_duplicates": within},
    )
