"""The `finerouter` command, run as a user would (the installed console script)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXE = shutil.which("finerouter") or str(Path(sys.executable).parent / "finerouter")


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EXE, *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_import_llmrouter_then_stats(tmp_path: Path, shared_data: Path) -> None:
    out = tmp_path / "lr"
    done = cli("import", "llmrouter", str(shared_data / "llmrouter"), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "kept" in done.stdout and "removed from" in done.stdout  # every rejection is explained
    stats = cli("data", "stats", str(out))
    assert stats.returncode == 0, stats.stderr
    text = stats.stdout
    assert "best single model: llama-3.1-nemotron-51b-instruct" in text
    test_block = text.split("== test:")[1]
    oracle = float(test_block.split("oracle: quality ")[1].split(",")[0])
    assert oracle > 0.74
    assert sum(1 for line in text.split("== all:")[1].split("best single")[0].splitlines() if "0." in line) == 9


def test_clear_errors(tmp_path: Path) -> None:
    bad = cli("import", "csv", str(tmp_path), "--out", str(tmp_path / "x"))
    assert bad.returncode == 2 and "unknown import format 'csv'; valid formats:" in bad.stderr
    missing = cli("import", "dcrouter-json", str(tmp_path / "nope.json"), "--out", str(tmp_path / "x"))
    assert missing.returncode == 2 and "not found" in missing.stderr
    (tmp_path / "empty.json").write_text("[]")
    empty = cli("import", "dcrouter-json", str(tmp_path / "empty.json"), "--out", str(tmp_path / "x"))
    assert empty.returncode == 2 and "no records" in empty.stderr
    not_a_table = cli("data", "stats", str(tmp_path))
    assert not_a_table.returncode == 2 and "is not a routing table" in not_a_table.stderr
    assert "Traceback" not in bad.stderr + missing.stderr + empty.stderr + not_a_table.stderr


@pytest.mark.slow
def test_rebuild_subcommand_matches_the_job(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[1]
    done = cli("rebuild", "--config", "configs/demo.yaml", "--set", f"artifacts_dir={tmp_path}",
               "--set", "data.synthetic.n_prompts=300", "--until", "stats", cwd=repo)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "demo/stats/stats.txt").exists()
    again = cli("rebuild", "--config", "configs/demo.yaml", "--set", f"artifacts_dir={tmp_path}",
                "--set", "data.synthetic.n_prompts=300", "--until", "stats", cwd=repo)  # fmt: skip
    assert again.stderr.count("up to date, skipped") == 4  # generate, score (not configured), import, stats
