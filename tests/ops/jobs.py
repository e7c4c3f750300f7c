"""Submitting the rebuild to a Ray head the way a user does (`ray job submit`), and reading its results."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from finerouter.pipeline.ray_runtime import job_submit_options
from tests.ops.head import RAY, Head, auth_headers, client_env

REPO = Path(__file__).resolve().parents[2]
TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")


def demo_overrides(artifacts: Path, run: str, n_prompts: int = 300) -> list[str]:
    """The demo rebuild, smaller: 300 simulated prompts, 16-row embedding batches, 3 training epochs per phase,
    progress every second."""
    return [
        f"artifacts_dir={artifacts}",
        f"run={run}",
        f"data.synthetic.n_prompts={n_prompts}",
        "embed.batch_size=16",
        "stage2.classifier.epochs=3",
        "stage2.estimator.epochs=3",
        "ray.progress_interval_s=1",
    ]


def submit(head: Head, overrides: list[str], config: str = "configs/demo.yaml") -> str:
    """`ray job submit --no-wait` from the repository root, named as docs/operations.md says (submission id
    finerouter-rebuild-<run>-<time>, dashboard name finerouter-rebuild-<run>); returns the submission id."""
    run = next((o.partition("=")[2] for o in overrides if o.startswith("run=")), "demo")
    cmd = [
        str(RAY),
        "job",
        "submit",
        f"--address={head.dashboard_url}",
        "--working-dir=.",
        "--runtime-env=jobs/runtime_env.yaml",
        *job_submit_options(run, datetime.now(UTC)),
        "--no-wait",
        "--",
        "python",
        "-m",
        "jobs.rebuild",
        f"--config={config}",
        *(f"--set={o}" for o in overrides),
    ]
    out = subprocess.run(cmd, cwd=REPO, env=client_env(), capture_output=True, text=True, timeout=180)
    match = re.search(r"Job '([\w.-]+)' submitted successfully", out.stdout + out.stderr)
    assert out.returncode == 0 and match, f"ray job submit failed ({out.returncode}):\n{out.stdout}\n{out.stderr}"
    return match.group(1)


def client(head: Head):
    from ray.job_submission import JobSubmissionClient

    return JobSubmissionClient(head.dashboard_url, headers=auth_headers())


def alive_actors(head: Head) -> list[dict[str, Any]]:
    """ALIVE actors of the head, from the dashboard's state API (what `ray list actors --detail` shows)."""
    query = urllib.parse.urlencode(
        {"detail": 1, "limit": 10000, "filter_keys": "state", "filter_predicates": "=", "filter_values": "ALIVE"}
    )
    return _get(head, f"/api/v0/actors?{query}")["data"]["result"]["result"]


def actor(head: Head, actor_id: str) -> dict[str, Any]:
    query = urllib.parse.urlencode(
        {"detail": 1, "filter_keys": "actor_id", "filter_predicates": "=", "filter_values": actor_id}
    )
    (found,) = _get(head, f"/api/v0/actors?{query}")["data"]["result"]["result"]
    return found


def _get(head: Head, path: str) -> Any:
    request = urllib.request.Request(head.dashboard_url + path, headers=auth_headers())
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def status(head: Head, job: str) -> str:
    return str(client(head).get_job_status(job)).rpartition(".")[2]


def logs(head: Head, job: str) -> str:
    return client(head).get_job_logs(job)


def wait(head: Head, job: str, timeout_s: float = 600.0, until: str | None = None) -> str:
    """Poll until the job ends (or, with `until`, a log line matching that regex appears); returns the status."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = status(head, job)
        if state in TERMINAL:
            return state
        if until and re.search(until, logs(head, job), re.MULTILINE):
            return state
        time.sleep(2)
    raise TimeoutError(f"job {job} still {status(head, job)} after {timeout_s} s; logs:\n{logs(head, job)[-4000:]}")


def comparable_outputs(run_dir: Path) -> dict[str, str]:
    """sha256 of every output file of every completed stage, minus what legitimately differs between two runs.

    Data files (Parquet, NumPy) count byte for byte. JSON counts without its timings and timestamps (keys
    `created`, `seconds`, `*_seconds`) and with the run directory's path masked; Markdown with the run's name
    replaced; charts (PNG) are renderings of the compared data (one carries the run name in its title) and are
    left out.
    """
    out = {}
    for marker in sorted(run_dir.glob("*/_COMPLETE.json")):
        for path in sorted(p for p in marker.parent.rglob("*") if p.is_file() and p != marker):
            rel = path.relative_to(run_dir).as_posix()
            if path.suffix == ".png" or (path.parent == marker.parent and path.name.startswith("_")):
                continue  # run records (`_timings.json`, ...) are outside the hashed outputs by design
            if path.suffix == ".json":
                text = path.read_text().replace(str(run_dir.resolve()), "<run_dir>")
                data = json.dumps(_without_timings(json.loads(text)), sort_keys=True).encode()
            elif path.suffix == ".md":
                data = path.read_text().replace(run_dir.name, "<run>").encode()
            else:
                data = path.read_bytes()
            out[rel] = hashlib.sha256(data).hexdigest()
    return out


def _without_timings(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _without_timings(v)
            for k, v in value.items()
            if k not in ("created", "seconds") and not k.endswith(("_seconds", "_s"))  # knn's build_s, search_s
        }
    if isinstance(value, list):
        return [_without_timings(v) for v in value]
    return value
