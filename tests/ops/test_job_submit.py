"""The user's day on one machine: `ray job submit` of the demo rebuild to a local head with the dashboard."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from finerouter.routing.router import Router
from tests.ops.head import Head
from tests.ops.jobs import REPO, client, comparable_outputs, logs

pytestmark = pytest.mark.slow


def test_job_submit_runs_the_demo_rebuild(ray_head: Head, clean_run: tuple[str, Path]) -> None:
    job, run_dir = clean_run
    # Named as docs/operations.md submits it: the dashboard's Name column shows metadata["job_name"].
    assert job.startswith("finerouter-rebuild-clean-")
    assert client(ray_head).get_job_info(job).metadata == {"job_name": "finerouter-rebuild-clean"}
    text = logs(ray_head, job)
    # The driver ran the uploaded working directory's code, not an installed copy.
    code_dir = text.split("code in ", 1)[1].split(")", 1)[0]
    assert "working_dir_files" in code_dir and str(REPO) not in code_dir
    # Progress lines with throughput and ETA, then the final summary table.
    assert "embed: 0/" not in text and "texts/s, ETA" in text
    assert "rebuild clean succeeded in" in text and "report: " in text

    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "succeeded"
    stages = {s["name"]: s for s in summary["stages"]}
    assert all(s["status"] == "ran" for s in stages.values())
    assert stages["import"]["rows"] == 300 and stages["embed"]["rows"] == 300
    assert {Path(r).name for r in summary["reports"]} >= {"task_report.md", "report.md"}
    assert all(Path(r).is_file() for r in summary["reports"])
    assert summary["bundle"] and (Path(summary["bundle"]) / "_COMPLETE.json").is_file()
    assert Router.load(summary["bundle"]).models  # the router bundle the job wrote loads and routes
    # Every stage wrote outputs, except the ones this config leaves unconfigured (they record only their marker).
    unconfigured = {"generate", "score", "publish"}
    assert {p.split("/")[0] for p in comparable_outputs(run_dir)} == set(stages) - unconfigured
