"""Serving and rebuilding on one small head (`ray start --head --num-cpus 2`, docs/operations.md, 'Serving and
rebuilding side by side'): with Serve's replicas holding the CPUs the rebuild needs, the submitted rebuild stops in
its preflight with the shortfall and the fix instead of waiting without end; with the documented settings both run.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.ops.head import Head
from tests.ops.jobs import client, demo_overrides, logs, submit, wait
from tests.ops.serving import route, serving

pytestmark = pytest.mark.slow

PROMPT = "Translate 'good morning' into French."


def test_rebuild_beside_a_serve_app_holding_the_cpus_fails_in_preflight(
    ray_head: Head, clean_run: tuple[str, Path], ops_artifacts: Path
) -> None:
    bundle = clean_run[1] / "bundle"
    # The setup: one router replica of 1 CPU and the ingress (0.1 CPU) leave 0.9 of the head's 2 CPUs.
    with serving(ray_head, bundle, "--replica-cpus", "1", "--min-replicas", "1", "--max-replicas", "1") as url:
        job = submit(ray_head, demo_overrides(ops_artifacts, "beside-busy-serve", n_prompts=200))
        assert wait(ray_head, job, timeout_s=300) == "FAILED"
        assert route(url, PROMPT).status_code == 200  # serving was not disturbed
    text = logs(ray_head, job)
    assert re.search(
        r"embed: embedding actor pool, 1 x \{CPU: 1\} needs 1 CPU; the cluster has 0\.\d+ of 2 CPU free", text
    ), text[-4000:]
    assert "Held now by:" in text and "Router" in text  # what holds the CPUs, from the state API
    assert "--replica-cpus" in text and "--set embed.num_cpus=0.5" in text
    assert "Traceback" not in text  # a FineRouter error, printed as one
    assert not (ops_artifacts / "beside-busy-serve" / "import" / "_COMPLETE.json").exists()


def test_serving_and_rebuilding_side_by_side_with_the_documented_settings(
    ray_head: Head, clean_run: tuple[str, Path], ops_artifacts: Path
) -> None:
    bundle = clean_run[1] / "bundle"
    # docs/operations.md: router replicas of 0.4 CPU, at most 2: Serve holds at most 0.9 CPU, the rebuild needs 1.
    with serving(ray_head, bundle, "--replica-cpus", "0.4", "--min-replicas", "1", "--max-replicas", "2") as url:
        job = submit(ray_head, demo_overrides(ops_artifacts, "beside-serve", n_prompts=200))
        answers = [route(url, PROMPT).status_code]  # while the job starts
        assert wait(ray_head, job, timeout_s=600, until=r"train_classifier: running") in ("RUNNING", "SUCCEEDED")
        answers.append(route(url, PROMPT).status_code)  # while Ray Train holds its worker's CPU
        assert wait(ray_head, job, timeout_s=600) == "SUCCEEDED", logs(ray_head, job)[-6000:]
        answers.append(route(url, PROMPT).status_code)
    assert answers and set(answers) == {200}
    info = client(ray_head).get_job_info(job)
    assert info.metadata == {"job_name": "finerouter-rebuild-beside-serve"}
    summary = json.loads((ops_artifacts / "beside-serve" / "summary.json").read_text())
    assert summary["status"] == "succeeded" and summary["bundle"]
