"""The online router: one class shared by the CLI, the Ray Serve app, the evaluation and users' own code.

Per prompt: the classifier assigns a task (or none); the estimator scores every model, with the task heads of the
task's candidate models and the general heads for the rest; stage-1's prior of the task (the no-task prior when
none) is fused in by alpha after min-max normalising both over the models considered; the cost setting picks the
cheapest model within `tolerance` of the best fused score, among models whose expected cost is <= `max_cost`.
With score scale "quality" (bundles since 2026-12) the fused score is mapped back, per prompt, onto the scale of
predicted quality, so `tolerance` and `willingness` are in quality units; the ranking is the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from finerouter.embed.encoder import encode
from finerouter.embed.onnx_encoder import require_onnxruntime
from finerouter.embed.options import check_encoder_options
from finerouter.errors import DataError, InvalidRequestError
from finerouter.routing import rule
from finerouter.routing.bundle import BundleParts, EncoderReference, read_bundle
from finerouter.routing.decision import RouteDecision
from finerouter.stage2.models import NO_TASK, EstimatorEnsemble, MoEQualityEstimator, TaskClassifier


@dataclass
class Analysis:
    task: np.ndarray  # (B,) task index, NO_TASK for none
    confidence: np.ndarray  # (B,) classifier score of the top task
    estimate: np.ndarray  # (B, M) stage-2 predicted quality
    prior: np.ndarray  # (B, M) stage-1 prior of the assigned task


def task_rows(task: np.ndarray, n_tasks: int) -> np.ndarray:
    """Each prompt's row in a per-task table whose last row, `n_tasks`, is "no task" (task NO_TASK)."""
    return np.where(task >= 0, task, n_tasks)


def minmax(values: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Min-max normalise each row over its allowed entries (a constant row becomes 0); others NaN."""
    return _normalised(values, allowed)[0]


def _normalised(values: np.ndarray, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """minmax(values, allowed) with the rows' minima and spans it was taken over, each (B, 1)."""
    v = np.where(allowed, values, np.nan)
    lo, hi = np.nanmin(v, axis=1, keepdims=True), np.nanmax(v, axis=1, keepdims=True)
    span = hi - lo
    return (v - lo) / np.where(span > 1e-12, span, 1.0), lo, span


SCORE_SCALES = ("quality", "minmax")
WILLINGNESS_OR_TOLERANCE = (
    "give tolerance or willingness, not both: they are alternative cost settings (the cheapest model within a "
    "tolerance of the best score, or the best score net of willingness x relative cost)"
)


def fuse(
    estimate: np.ndarray, prior: np.ndarray, alpha: float, allowed: np.ndarray, scale: str = "minmax"
) -> np.ndarray:
    """The paper's fusion alpha * minmax(estimate) + (1 - alpha) * minmax(prior), per row over the allowed models.
    scale "minmax" leaves it in [0, 1] per row; "quality" maps it affinely back onto the rows' own scales:
    x * (alpha * span(estimate) + (1 - alpha) * span(prior)) + alpha * min(estimate) + (1 - alpha) * min(prior),
    the estimate itself at alpha 1 and the prior at alpha 0. The ranking within a row is the same either way; what
    differs is how far apart models score, which is what a tolerance or a cost trade-off compares."""
    if scale not in SCORE_SCALES:
        raise ValueError(f"unknown score scale {scale!r}; valid: {', '.join(SCORE_SCALES)}")
    e, lo_e, span_e = _normalised(estimate, allowed)
    p, lo_p, span_p = _normalised(prior, allowed)
    fused = alpha * e + (1.0 - alpha) * p
    if scale == "minmax":
        return fused
    return fused * (alpha * span_e + (1.0 - alpha) * span_p) + alpha * lo_e + (1.0 - alpha) * lo_p


def check_unicode(text: str, where: str) -> None:
    """InvalidRequestError unless `text` can be UTF-8 encoded (the tokenizer fails on a lone surrogate such as
    '\\ud800', which JSON can carry)."""
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidRequestError(
            f"{where} is not valid Unicode text: character {exc.start} is {text[exc.start]!a} ({exc.reason}); "
            "send UTF-8 text"
        ) from None


def _encoder_name(encoder: EncoderReference, carried: dict[str, Path]) -> str:
    """What `encode` loads: the embed stage's encoder by name, or the fine-tuned copy inside the bundle."""
    if encoder.mode == "frozen":
        return encoder.name
    if encoder.name in carried:
        return str(carried[encoder.name].resolve())
    raise DataError(f"bundle encoder {encoder.name!r} is fine-tuned, but the bundle has no {encoder.name}/ directory")


class Router:
    """`encoder_dtype` bfloat16 runs the prompt encoder in bfloat16 (faster on CPUs with AVX512-BF16/AMX; the
    bundle's heads still see float32 embeddings); float32 reproduces the rebuild's embeddings exactly.
    `encoder_runtime` onnxruntime runs the same encoder on ONNX Runtime (float32 only), faster per prompt;
    the valid combinations are in finerouter.embed.encoder.RUNTIME_DTYPES."""

    def __init__(self, parts: BundleParts, encoder_dtype: str = "float32", encoder_runtime: str = "torch") -> None:
        check_encoder_options(encoder_dtype, encoder_runtime)
        if encoder_runtime == "onnxruntime":
            require_onnxruntime()  # fail at load, not at the first request
        self.encoder_dtype = encoder_dtype
        self.encoder_runtime = encoder_runtime
        meta = parts.meta
        self.encoder_name = _encoder_name(meta.encoder, parts.extra_files)
        self.meta = meta
        self.version: str = meta.version
        self.models: list[str] = list(meta.models)
        self.model_cost: dict[str, float | None] = {m: meta.model_cost[m] for m in self.models}
        self.cost_unit: str = meta.cost_unit
        self.alpha: float = meta.alpha
        self.use_task_heads: bool = meta.task_heads
        self.score_scale: str = meta.score_scale
        self.tolerance: float = meta.tolerance
        self.routing_threshold: float = meta.routing_threshold
        self.task_ids = np.asarray(meta.task_ids, dtype=np.int64)
        self.tasks = parts.tasks
        self._task_rows = {int(t): i for i, t in enumerate(parts.tasks["task_id"])}
        self.classifier = TaskClassifier.from_state_dict(parts.classifier_state())
        dims = meta.estimator.model_dump()
        self.estimator = EstimatorEnsemble(
            [MoEQualityEstimator.from_state_dict(dims, state) for state in parts.member_states()]
        )
        self.classifier.eval()
        self.estimator.eval()
        self.priors = parts.tensors["priors"].numpy().astype(np.float64)
        self._cost = np.array([np.nan if c is None else c for c in self.model_cost.values()], dtype=np.float64)

    @classmethod
    def load(cls, path: str | Path, encoder_dtype: str = "float32", encoder_runtime: str = "torch") -> Router:
        return cls(read_bundle(path), encoder_dtype=encoder_dtype, encoder_runtime=encoder_runtime)

    # -- scoring -------------------------------------------------------------------------------------------------
    def embed(self, prompts: Sequence[str]) -> np.ndarray:
        return encode(list(prompts), self.encoder_name, dtype=self.encoder_dtype, runtime=self.encoder_runtime)

    @property
    def finetuned_encoder(self) -> bool:
        """Whether the bundle carries its own fine-tuned encoder (the embed stage's embeddings do not fit it)."""
        return self.meta.encoder.mode == "finetune"

    @torch.no_grad()
    def analyse(self, emb: np.ndarray, *, use_task_heads: bool | None = None) -> Analysis:
        """Task, confidence, stage-2 estimate and stage-1 prior; `use_task_heads` None = the bundle's choice."""
        x = torch.as_tensor(np.asarray(emb, dtype=np.float32))
        task, conf = self.classifier.assign(x, self.routing_threshold)
        heads = self.use_task_heads if use_task_heads is None else use_task_heads
        estimate, _ = self.estimator(x, task if heads else None)
        prior = self.priors[task_rows(task.numpy(), len(self.priors) - 1)]
        return Analysis(task.numpy(), conf.numpy(), estimate.numpy().astype(np.float64), prior)

    def fused_scores(
        self, emb: np.ndarray, *, alpha: float | None = None, use_task_heads: bool | None = None,
        allowed: np.ndarray | None = None,
    ) -> np.ndarray:  # fmt: skip
        """(B, M) fused scores; NaN for models not allowed."""
        a = self.analyse(emb, use_task_heads=use_task_heads)
        mask = np.ones(a.estimate.shape, dtype=bool) if allowed is None else np.broadcast_to(allowed, a.estimate.shape)
        return fuse(a.estimate, a.prior, self.alpha if alpha is None else alpha, mask, self.score_scale)

    # -- routing -------------------------------------------------------------------------------------------------
    def allowed_models(self, models: Sequence[str] | None, max_cost: float | None) -> np.ndarray:
        allowed = np.ones(len(self.models), dtype=bool)
        if models is not None:
            if isinstance(models, str) or len(models) == 0:
                raise InvalidRequestError(f"models must be a non-empty list of names; valid: {', '.join(self.models)}")
            unknown = [m for m in models if m not in self.model_cost]
            if unknown:
                raise InvalidRequestError(f"unknown model(s) {unknown}; valid: {', '.join(self.models)}")
            allowed = np.isin(np.asarray(self.models, dtype=object), list(models))
        if max_cost is not None:
            fits = np.nan_to_num(self._cost, nan=np.inf) <= max_cost
            if not (allowed & fits).any():
                cheapest = min((self._cost[j], m) for j, m in enumerate(self.models) if allowed[j])
                raise InvalidRequestError(
                    f"max_cost {max_cost} is below every allowed model's expected cost; the cheapest is "
                    f"{cheapest[1]} at {cheapest[0]:.4g} {self.cost_unit}"
                )
            allowed &= fits
        return allowed

    def choose(self, fused: np.ndarray, tolerance: float) -> np.ndarray:
        """Per row, the cheapest model within `tolerance` of the best fused score (higher score among equal costs)."""
        return rule.choose_tolerance(fused, self._cost, tolerance)

    def choose_willingness(self, fused: np.ndarray, willingness: float) -> np.ndarray:
        """Per row, argmax(score - willingness * cost / dearest cost): quality given up per unit of relative cost."""
        return rule.choose_willingness(fused, self._cost, willingness)

    def route(
        self, prompts: Sequence[str], *, tolerance: float | None = None, max_cost: float | None = None,
        models: Sequence[str] | None = None, willingness: float | None = None,
    ) -> list[RouteDecision]:  # fmt: skip
        if isinstance(prompts, str):
            raise InvalidRequestError("prompts must be a list of strings, not one string")
        for i, p in enumerate(prompts):
            if not isinstance(p, str) or not p.strip():
                raise InvalidRequestError(f"prompt {i} is empty or not a string; every prompt needs text")
            check_unicode(p, f"prompt {i}")
        if not prompts:
            return []
        return self.route_embeddings(
            self.embed(prompts), tolerance=tolerance, max_cost=max_cost, models=models, willingness=willingness
        )

    def route_embeddings(
        self, emb: np.ndarray, *, tolerance: float | None = None, max_cost: float | None = None,
        models: Sequence[str] | None = None, willingness: float | None = None,
    ) -> list[RouteDecision]:  # fmt: skip
        """`route` for prompts already embedded with the bundle's encoder. `willingness` (lambda, >= 0) trades
        quality for cost instead of a tolerance: argmax(score - lambda * cost / dearest cost)."""
        if tolerance is not None and (not np.isfinite(tolerance) or tolerance < 0):
            raise InvalidRequestError(f"tolerance must be a number >= 0, got {tolerance}")
        if willingness is not None:
            if not np.isfinite(willingness) or willingness < 0:
                raise InvalidRequestError(f"willingness must be a number >= 0, got {willingness}")
            if tolerance is not None:
                raise InvalidRequestError(WILLINGNESS_OR_TOLERANCE)
        if max_cost is not None and not np.isfinite(max_cost):
            raise InvalidRequestError(f"max_cost must be a finite number, got {max_cost}")
        allowed = self.allowed_models(models, max_cost)
        a = self.analyse(emb)
        fused = fuse(a.estimate, a.prior, self.alpha, np.broadcast_to(allowed, a.estimate.shape), self.score_scale)
        if willingness is not None:
            choice = self.choose_willingness(fused, willingness)
        else:
            choice = self.choose(fused, self.tolerance if tolerance is None else tolerance)
        return [self._decision(a, fused, i, int(j)) for i, j in enumerate(choice)]

    def _decision(self, a: Analysis, fused: np.ndarray, i: int, j: int) -> RouteDecision:
        t = int(a.task[i])
        task_id = None if t == NO_TASK else int(self.task_ids[t])
        summary = None if task_id is None else str(self.tasks["summary"].iloc[self._task_rows[task_id]])
        cost = self._cost[j]
        return RouteDecision(
            model=self.models[j],
            task_id=task_id,
            task_summary=summary,
            confidence=float(a.confidence[i]),
            scores={m: round(float(fused[i, k]), 6) for k, m in enumerate(self.models) if not np.isnan(fused[i, k])},
            estimated_cost=None if np.isnan(cost) else float(cost),
            cost_unit=self.cost_unit,
            bundle_version=self.version,
        )

    def task(self, task_id: int) -> dict[str, Any]:
        if int(task_id) not in self._task_rows:
            valid = ", ".join(str(t) for t in self.tasks["task_id"])
            raise InvalidRequestError(f"unknown task id {task_id}; valid: {valid}")
        row = self.tasks.iloc[self._task_rows[int(task_id)]]
        return {
            "id": int(row["task_id"]),
            "summary": str(row["summary"]),
            "size": int(row["size"]),
            "candidates": [str(m) for m in row["candidates"]],
        }
