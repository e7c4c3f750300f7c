"""Stages `tasks` (candidates, priors, summaries, assignments) and `task_report` (report, map, metrics)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from finerouter.data.artifacts import ASSIGNMENTS, COMMUNITIES, PROMPT_EMB, TASKS, load_table
from finerouter.describe.backends import summarize
from finerouter.discovery.discover import OTHERS
from finerouter.discovery.quality import held_out_prediction, label_agreement, rbo_vs_random
from finerouter.discovery.report import describe_note, task_map, task_report, top_labels
from finerouter.discovery.tasks import build_tasks
from finerouter.discovery.train_view import train_view
from finerouter.pipeline.stage import Stage, StageContext
from finerouter.stages.embed import embed_texts

HELD_OUT_SAMPLE = 10_000  # most dev/test prompts in task_report's held-out check (a seeded sample above that)

if TYPE_CHECKING:
    from finerouter.config import RebuildConfig


class TasksStage(Stage):
    name = "tasks"
    inputs = ("communities", "embed", "preferences", "describe", "import")

    def config_key(self, config: RebuildConfig) -> Any:
        llm = config.describe if config.describe.backend != "prompt" else None
        return {"delta": config.discovery.coverage_delta, "k_rrf": config.discovery.k_rrf, "summaries": llm}

    def run(self, ctx: StageContext) -> dict[str, Any]:
        view = train_view(ctx.run_dir)
        labels = pd.read_parquet(ctx.run_dir / COMMUNITIES)["community"].to_numpy()
        d = ctx.config.discovery
        tasks, task_emb = build_tasks(
            labels, view.quality, view.prefs, view.ranks, view.embeddings, view.descriptions, view.models,
            d.coverage_delta, d.k_rrf,
        )  # fmt: skip
        if ctx.config.describe.backend != "prompt":
            tasks, task_emb = _llm_summaries(tasks, task_emb, labels, view.descriptions, ctx.config)
        tasks.to_parquet(ctx.out_dir / "tasks.parquet", index=False)
        np.save(ctx.out_dir / "task_embeddings.npy", task_emb)
        pd.DataFrame({"prompt_id": view.prompt_ids, "task_id": labels}).to_parquet(
            ctx.out_dir / "assignments.parquet", index=False
        )
        real = tasks[tasks["task_id"] != OTHERS]
        return {
            "tasks": len(real),
            "others": int((labels == OTHERS).sum()),
            "mean_candidates": round(float(real["candidates"].map(len).mean()), 2) if len(real) else 0.0,
        }


def _held_out(ctx: StageContext, assigned: pd.DataFrame, labels: np.ndarray) -> dict[str, Any]:
    """Dev and test prompts (never seen by discovery) predicted through the tasks vs the global mean."""
    table = load_table(ctx.run_dir)
    emb = np.load(ctx.run_dir / PROMPT_EMB)
    position = pd.Series(np.arange(len(table.prompts)), index=table.prompts["prompt_id"].to_numpy())
    train_rows = position.loc[assigned["prompt_id"]].to_numpy()
    held = np.flatnonzero(table.prompts["split"].to_numpy() != "train")
    quality = table.quality_matrix()
    return held_out_prediction(
        emb[train_rows], labels, quality[train_rows], emb[held], quality[held], sample=HELD_OUT_SAMPLE,
        seed=ctx.config.seed,
    )  # fmt: skip


def _llm_summaries(tasks: pd.DataFrame, task_emb: np.ndarray, labels: np.ndarray, descriptions: list[str], config):
    rng = np.random.default_rng(config.seed)
    groups = {}
    for task in tasks["task_id"]:
        members = np.flatnonzero(labels == task)
        sample = rng.choice(members, size=min(20, len(members)), replace=False)
        groups[int(task)] = [descriptions[i] for i in sample]
    summaries = summarize(groups, config.describe)
    written = tasks["task_id"].map(summaries)
    tasks = tasks.assign(
        summary=written.where(written.notna(), tasks["summary"]),
        summary_source=np.where(written.notna(), "llm", "medoid"),
    )
    fresh = written.notna().to_numpy()
    if fresh.any():
        task_emb = task_emb.copy()
        task_emb[fresh] = embed_texts(list(tasks.loc[fresh, "summary"]), config.embed)
    return tasks, task_emb


class TaskReportStage(Stage):
    name = "task_report"
    inputs = ("tasks", "import", "preferences", "embed", "describe")
    version = 4  # 2: the report names the description backend; 3: held-out prediction check; 4: its sample

    def config_key(self, config: RebuildConfig) -> Any:
        return {"p": config.discovery.rbo.p, "seed": config.seed}

    def run(self, ctx: StageContext) -> dict[str, Any]:
        view = train_view(ctx.run_dir)
        tasks = pd.read_parquet(ctx.run_dir / TASKS)
        assigned = pd.read_parquet(ctx.run_dir / ASSIGNMENTS)
        prompts = view.prompts.set_index("prompt_id").loc[assigned["prompt_id"]]
        labels = assigned["task_id"].to_numpy()
        metrics: dict[str, Any] = rbo_vs_random(labels, view.ranks, ctx.config.discovery.rbo.p, ctx.config.seed)
        for column in ("source", "category"):
            ref = prompts[column]
            if ref.notna().all() and ref.nunique() > 1:
                metrics[f"vs_{column}"] = {**label_agreement(labels, ref.to_numpy()), "labels": int(ref.nunique())}
        metrics["tasks"] = int((tasks["task_id"] != OTHERS).sum())
        metrics["others_share"] = round(float((labels == OTHERS).mean()), 4)
        metrics["held_out"] = _held_out(ctx, assigned, labels)
        (ctx.out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        note = describe_note(ctx.config.describe.backend, ctx.input_stats("describe").get("status", {}))
        metrics["descriptions"] = note
        (ctx.out_dir / "task_report.md").write_text(task_report(tasks, prompts, labels, view.models, metrics, note))
        names = top_labels(tasks, labels, prompts["source"]) if prompts["source"].notna().any() else None
        task_map(tasks, np.load(ctx.run_dir / "tasks/task_embeddings.npy"), ctx.out_dir / "tasks_map.png", names)
        ctx.log.info("task discovery metrics: %s", metrics)
        return metrics
