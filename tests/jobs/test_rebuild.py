"""jobs/rebuild.py end to end on the embedded default: import + stats, skipping, reruns."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from finerouter.config import load_config
from finerouter.data.artifacts import load_table
from finerouter.errors import FineRouterError
from finerouter.routing.router import Router
from finerouter.stage2.config import ALPHA_GRID
from jobs.rebuild import main

REPO = Path(__file__).resolve().parents[2]


def demo_config(tmp_path: Path, *extra: str):
    return load_config(
        REPO / "configs/demo.yaml",
        [
            f"artifacts_dir={tmp_path}",
            "data.synthetic.n_prompts=400",
            "stage2.classifier.epochs=3",
            "stage2.estimator.epochs=3",
            *extra,
        ],
    )


BASELINES = ["random", "knn", "mlp", "matrix-factorisation", "ipr-style", "finerouter-stage1"]
ABLATIONS = ["finerouter-stage2", "finerouter-general", "finerouter-prior", "finerouter-source-tasks"]
STAGES = [
    "generate",  # no generation section: runs once, records `configured: false`
    "score",
    "import",
    "stats",
    "describe",
    "embed",
    "preferences",
    "knn",
    "graph",
    "communities",
    "tasks",
    "task_report",
    "finetune_encoder",  # stage2.encoder: frozen: records that stage 2 uses the embed stage's embeddings
    "train_classifier",
    "train_router",
    "bundle",
    "evaluate",
    "publish",
]


def test_demo_rebuild_runs_then_skips_then_reruns_what_changed(tmp_path: Path, ray_local) -> None:
    publish = f"publish.root={tmp_path / 'published'}"
    first = main(demo_config(tmp_path, publish))
    assert [(o.name, o.status) for o in first] == [(name, "ran") for name in STAGES]
    run = tmp_path / "demo"
    assert (run / "import/table/prompts.parquet").exists() and (run / "import/table/rejected.parquet").exists()
    stats = json.loads((run / "stats/stats.json").read_text())
    assert stats["splits"]["all"]["prompts"] == 400 and {"train", "dev", "test"} <= set(stats["splits"])
    tasks = pd.read_parquet(run / "tasks/tasks.parquet")
    assignments = pd.read_parquet(run / "tasks/assignments.parquet")
    train = stats["splits"]["train"]["prompts"]
    assert len(assignments) == train and tasks["size"].sum() == train
    assert np.load(run / "embed/prompt_embeddings.npy").shape == (400, 384)
    assert (run / "task_report/task_report.md").exists() and (run / "task_report/tasks_map.png").exists()
    metrics = json.loads((run / "task_report/metrics.json").read_text())
    assert metrics["within_task_rbo"] > metrics["random_grouping_rbo"]
    assert "backend `prompt`, no LLM" in (run / "task_report/task_report.md").read_text()
    results = json.loads((run / "evaluate/results.json").read_text())
    assert list(results["routers"]) == [*BASELINES, "finerouter"] and "alpha_sweep" not in results  # no ablations
    assert Router.load(run / "bundle").version == results["bundle"]
    assert Router.load(run / "bundle").score_scale == "quality"  # the config default, recorded in bundle.json
    assert (run / "evaluate/report.md").exists() and (run / "evaluate/pareto.png").exists()
    from finerouter.pipeline.publish import latest

    assert Router.load(latest(tmp_path / "published")).version == results["bundle"]

    again = main(demo_config(tmp_path, publish))
    assert [o.status for o in again] == ["skipped"] * len(STAGES)

    # The ablations are opt-in: only the evaluation (and what follows it) reruns, the other rows are unchanged.
    ablated = main(demo_config(tmp_path, publish, "evaluate.ablations=true"))
    assert [o.name for o in ablated if o.status == "ran"] == ["evaluate", "publish"]
    with_ablations = json.loads((run / "evaluate/results.json").read_text())
    assert list(with_ablations["routers"]) == [*BASELINES, "finerouter", *ABLATIONS]
    assert [p["alpha"] for p in with_ablations["alpha_sweep"]] == list(ALPHA_GRID)
    assert "Alpha sweep" in (run / "evaluate/report.md").read_text()
    for name, row in results["routers"].items():
        assert with_ablations["routers"][name] == row

    # One discovery field: everything before the kNN stage is reused.
    changed = main(demo_config(tmp_path, publish, "discovery.knn.k=8"))
    ran = [o.name for o in changed if o.status == "ran"]
    assert ran[0] == "knn" and "embed" not in ran and "import" not in ran
    summary = json.loads((run / "summary.json").read_text())
    assert [s["name"] for s in summary["stages"]] == STAGES

    # A fine-tuned encoder: stage 1 is reused; stage 2, the bundle and the evaluation move to its embeddings.
    tuned = main(demo_config(tmp_path, publish, "discovery.knn.k=8", "stage2.encoder=finetune",
                             "stage2.finetune.epochs=1"))  # fmt: skip
    assert [o.name for o in tuned if o.status == "ran"] == STAGES[STAGES.index("finetune_encoder") :]
    encoder = json.loads((run / "finetune_encoder/encoder.json").read_text())
    assert encoder["mode"] == "finetune" and encoder["epochs"] == 1 and encoder["dim"] == 384
    tuned_emb = np.load(run / "finetune_encoder/prompt_embeddings.npy")
    assert tuned_emb.shape == (400, 384) and not np.allclose(tuned_emb, np.load(run / "embed/prompt_embeddings.npy"))
    router = Router.load(run / "bundle")
    assert router.finetuned_encoder and (run / "bundle/encoder/model.safetensors").is_file()
    ids = pd.read_parquet(run / "finetune_encoder/prompt_ids.parquet")
    prompts = load_table(run).prompts.set_index("prompt_id").loc[ids["prompt_id"][:3], "prompt"].tolist()
    np.testing.assert_allclose(router.embed(prompts), tuned_emb[:3], atol=1e-5)
    results = json.loads((run / "evaluate/results.json").read_text())
    assert results["bundle"] == router.version and "finerouter" in results["routers"]


def test_llmrouter_rebuild(tmp_path: Path, shared_data: Path) -> None:
    import os
    import shutil

    source = shutil.copytree(shared_data / "llmrouter", tmp_path / "source")  # a copy, so it can be touched
    cfg = load_config(
        REPO / "configs/llmrouter.yaml", [f"artifacts_dir={tmp_path / 'artifacts'}", f"data.sources=[{source}]"]
    )
    stats = {o.name: o for o in main(cfg, until=["stats"])}["stats"].stats
    assert stats["test"]["best_single"]["model"] == "llama-3.1-nemotron-51b-instruct"
    # Touched but unchanged sources (a fresh checkout or copy): import runs again, writes the same table, and the
    # stages after it are not redone.
    for file in (p for p in source.rglob("*") if p.is_file()):
        os.utime(file)
    again = {o.name: o.status for o in main(cfg, until=["stats"])}
    assert again["import"] == "ran" and again["stats"] == "skipped"


def test_unknown_stage_is_an_error(tmp_path: Path) -> None:
    expected = "unknown stage 'embedding'; stages are: generate, score, import, stats, describe"
    with pytest.raises(FineRouterError, match=expected):
        main(demo_config(tmp_path), force=["embedding"])


def test_rebuild_on_a_ray_whose_cpus_are_taken_fails_in_preflight(tmp_path: Path, ray_local) -> None:
    """Before the preflight, the embed stage's actor pool waited `actor_start_timeout_s` (600 s) for a CPU and a
    Ray Train worker group retried its start without end; now the rebuild stops before its first stage."""
    from finerouter.errors import ResourceShortfallError

    @ray_local.remote
    class Placeholder:
        def ready(self) -> bool:
            return True

    free = ray_local.available_resources().get("CPU", 0.0)
    holder = Placeholder.options(num_cpus=free).remote()  # every free CPU, as a Serve app on a small head would
    try:
        ray_local.get(holder.ready.remote(), timeout=120)
        with pytest.raises(ResourceShortfallError) as caught:
            main(demo_config(tmp_path))
    finally:
        ray_local.kill(holder)
    message = str(caught.value)
    assert "embed: embedding actor pool, 1 x {CPU: 1} needs 1 CPU; the cluster has 0 of" in message
    assert "train_classifier: Ray Train workers, 1 x {CPU: 1} needs 1 CPU" in message
    assert "--set embed.num_cpus=0.5" in message and "--set stage2.scaling.cpus_per_worker=0.5" in message
    assert not (tmp_path / "demo" / "import" / "_COMPLETE.json").exists()  # no stage ran


def test_the_job_log_leaves_out_faiss_probing_its_cpu_builds() -> None:
    """faiss logs every CPU build it does not ship (swigfaiss_avx512, ...) with a ModuleNotFoundError at INFO."""
    import subprocess
    import sys

    code = "from jobs.rebuild import configure_logging; configure_logging(); import faiss; print(faiss.__version__)"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "swigfaiss" not in done.stderr and "Could not load library" not in done.stderr, done.stderr
