"""jobs/rebuild.py end to end on the embedded default: import + stats, skipping, reruns."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from finerouter.config import load_config
from finerouter.errors import FineRouterError
from jobs.rebuild import main

REPO = Path(__file__).resolve().parents[2]


def demo_config(tmp_path: Path, *extra: str):
    return load_config(
        REPO / "configs/demo.yaml", [f"artifacts_dir={tmp_path}", "data.synthetic.n_prompts=400", *extra]
    )


def test_demo_rebuild_runs_then_skips_then_reruns_on_change(tmp_path: Path) -> None:
    first = main(demo_config(tmp_path))
    assert [(o.name, o.status) for o in first] == [("import", "ran"), ("stats", "ran")]
    table = tmp_path / "demo/import/table"
    assert (table / "prompts.parquet").exists() and (table / "rejected.parquet").exists()
    stats = json.loads((tmp_path / "demo/stats/stats.json").read_text())
    assert stats["splits"]["all"]["prompts"] == 400
    assert {"train", "dev", "test"} <= set(stats["splits"])

    again = main(demo_config(tmp_path))
    assert [o.status for o in again] == ["skipped", "skipped"]

    changed = main(demo_config(tmp_path, "data.split.salt=another"))
    assert [o.status for o in changed] == ["ran", "ran"]
    summary = json.loads((tmp_path / "demo/summary.json").read_text())
    assert [s["name"] for s in summary["stages"]] == ["import", "stats"]


def test_llmrouter_rebuild(tmp_path: Path, shared_data: Path) -> None:
    cfg = load_config(
        REPO / "configs/llmrouter.yaml",
        [f"artifacts_dir={tmp_path}", f"data.sources=[{shared_data / 'llmrouter'}]"],
    )
    outcomes = main(cfg, only=["stats"])
    assert outcomes[1].stats["test"]["best_single"]["model"] == "llama-3.1-nemotron-51b-instruct"


def test_unknown_stage_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FineRouterError, match="unknown stage 'embed'; stages are: import, stats"):
        main(demo_config(tmp_path), force=["embed"])
