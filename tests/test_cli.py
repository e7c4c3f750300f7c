"""The `finerouter` command, run as a user would (the installed console script)."""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import finerouter
from finerouter.cli import build_parser

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


def test_version() -> None:
    done = cli("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"finerouter {finerouter.__version__}"


def test_every_option_of_every_command_has_a_help_text() -> None:
    undocumented = []
    parsers = [("finerouter", build_parser())]
    while parsers:
        name, parser = parsers.pop()
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                parsers += [(f"{name} {sub}", p) for sub, p in action.choices.items()]
            elif not action.help:
                undocumented.append(f"{name}: {'/'.join(action.option_strings) or action.dest}")
    assert undocumented == []
    assert "seed of the random router" in cli("eval", "--help").stdout


def test_serve_with_a_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    done = cli("serve", "--config", str(tmp_path / "nope.yaml"))
    assert done.returncode == 2 and "nope.yaml' not found" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.slow
def test_serve_stops_in_preflight_when_its_replicas_cannot_start(tmp_path: Path) -> None:
    """Before the preflight the replica stayed pending and the command waited without a word."""
    bundle = tmp_path / "bundle"
    bundle.mkdir()  # never loaded: the preflight runs before anything is deployed
    done = cli("serve", "--bundle", str(bundle), "--num-cpus", "1", "--replica-cpus", "2", "--max-replicas", "1")
    assert done.returncode == 2, done.stdout + done.stderr
    needs = r"finerouter serve: 1 router replica\(s\) x \{CPU: 2\} \+ 1 ingress replica\(s\) x \{CPU: [\d.]+\} needs "
    assert re.search(needs + r"[\d.]+ CPU; the cluster has 1 of 1 CPU free", done.stderr), done.stderr
    assert "--replica-cpus 1" in done.stderr and "Traceback" not in done.stderr
