"""Scale benchmark: the ENTIRE rebuild (jobs.rebuild, every stage to the evaluation) on simulated tables
of growing size, on the local Ray this config starts.

Per size it records each stage's wall time (the runner's summary.json) and the peak memory of the process tree
(the rebuild's driver plus every Ray process it starts, sampled with psutil), overall and per stage: summed RSS, an
upper bound (a shared page such as Ray's object store counts in each process that maps it), and summed PSS (each
shared page split among the processes that map it). It fits each stage's growth exponent (least squares on log
time vs log prompts), and times the raw encoder in this process on all of Ray's CPUs (or on the GPU), on texts of
the same length mix, before and after the rebuilds (their mean), so the embed stage's efficiency is a ratio
measured on the same machine in the same run. The test and dev splits are capped (--split-cap, 35,000 prompts by
default) so the evaluation stays meaningful without growing with the table.

Usage: python benchmarks/scale_rebuild.py [--sizes 35000 70000 140000 280000] [--config configs/scale.yaml]
       [--out artifacts/scale-rebuild] [--set KEY=VALUE ...]
Writes <out>/scale_rebuild.json and <out>/scale_rebuild.md; each size's run is <out>/<run>-<size>/.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from finerouter.config import RebuildConfig, load_config

REPO = Path(__file__).resolve().parents[1]

DEFAULT_SIZES = (35_000, 70_000, 140_000, 280_000)


def split_overrides(n_prompts: int, cap: int, fraction: float = 0.125) -> list[str]:
    """dev and test each `fraction` of the table, at most `cap` prompts; train the rest (at 280,000 prompts:
    35,000 each)."""
    held = min(fraction, cap / n_prompts)
    return [f"data.split.dev={held!r}", f"data.split.test={held!r}", f"data.split.train={1.0 - 2 * held!r}"]


def size_overrides(config: Path, out: Path, n_prompts: int, cap: int, extra: list[str]) -> tuple[list[str], str]:
    base = load_config(config, extra)
    run = f"{base.run}-{n_prompts}"
    sets = [*extra, f"run={run}", f"artifacts_dir={out}", f"data.synthetic.n_prompts={n_prompts}"]
    return [*sets, *split_overrides(n_prompts, cap)], run


def load_psutil() -> Any:
    """psutil: Ray depends on it but does not install it; importing ray makes its own copy importable."""
    import ray

    del ray  # imported only for that
    import psutil

    return psutil


class TreeMemory:
    """Memory of a process and all its descendants, sampled every `interval_s` in a thread: the summed RSS (an
    upper bound: a shared page counts in every process that maps it) and the summed PSS (each shared page split
    among the processes that map it, so Ray's object store and the mapped libraries count once: the memory the
    tree holds), each sample timed so it can be charged to the stage that ran then."""

    def __init__(self, pid: int, interval_s: float) -> None:
        self.psutil = load_psutil()
        self.root = self.psutil.Process(pid)
        self.interval_s = interval_s
        self.samples: list[tuple[float, int, int]] = []  # (unix time, summed RSS, summed PSS)
        self.peak_bytes = self.peak_pss_bytes = self.peak_processes = 0
        self.peak_pss_top: list[dict[str, Any]] = []  # the largest processes at the PSS peak
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                procs = [self.root, *self.root.children(recursive=True)]
            except self.psutil.NoSuchProcess:
                return
            rows = []
            for proc in procs:
                try:
                    info = proc.memory_full_info()
                    rows.append((info.rss, info.pss, proc.name(), proc.pid))
                except (self.psutil.NoSuchProcess, self.psutil.AccessDenied, self.psutil.ZombieProcess):
                    continue
            rss, pss = sum(r[0] for r in rows), sum(r[1] for r in rows)
            self.samples.append((time.time(), rss, pss))
            if rss > self.peak_bytes:
                self.peak_bytes, self.peak_processes = rss, len(procs)
            if pss > self.peak_pss_bytes:
                self.peak_pss_bytes = pss
                top = sorted(rows, key=lambda r: -r[1])[:6]
                self.peak_pss_top = [{"name": n, "pid": i, "rss_bytes": r, "pss_bytes": p} for r, p, n, i in top]
            self._stop.wait(self.interval_s)

    def stage_peaks(self, log_path: Path) -> dict[str, dict[str, int]]:
        """Each stage's peak summed RSS and PSS, from the samples taken while it ran: a stage runs from the
        previous "[i/n] <stage>: done" line of the runner's log to its own."""
        pattern = re.compile(r"^(\S+ \S+) INFO finerouter\.rebuild: \[\d+/\d+\] (\S+): done in")
        ends = []
        for line in log_path.read_text(errors="replace").splitlines():
            if m := pattern.match(line):
                stamp = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").astimezone().timestamp()
                ends.append((stamp, m.group(2)))
        peaks: dict[str, dict[str, int]] = {}
        start = self.samples[0][0] if self.samples else 0.0
        for end, name in ends:
            inside = [(rss, pss) for t, rss, pss in self.samples if start <= t <= end]
            if inside:
                peaks[name] = {"rss_bytes": max(r for r, _ in inside), "pss_bytes": max(p for _, p in inside)}
            start = end
        return peaks


def run_size(config: Path, out: Path, n_prompts: int, cap: int, extra: list[str], interval_s: float) -> dict:
    sets, run = size_overrides(config, out, n_prompts, cap, extra)
    run_dir = out / run
    if (run_dir / "summary.json").exists():
        raise SystemExit(f"{run_dir} already holds a run: its stages would be skipped, not timed; remove it first")
    command = [sys.executable, "-m", "jobs.rebuild", "--config", str(config)]
    for item in sets:
        command += ["--set", item]
    out.mkdir(parents=True, exist_ok=True)
    log_path = out / f"{run}.log"
    started = time.perf_counter()
    with log_path.open("w") as log:
        proc = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        with TreeMemory(proc.pid, interval_s) as memory:
            code = proc.wait()
    wall = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"the rebuild at {n_prompts} prompts failed (exit {code}); its log: {log_path}")
    summary = json.loads((run_dir / "summary.json").read_text())
    untimed = [s["name"] for s in summary["stages"] if s["status"] != "ran"]
    if untimed:
        raise SystemExit(f"stages {untimed} of {run_dir} did not run (skipped), so they are not timed")
    stages = {s["name"]: {"seconds": s["seconds"], "rows": s["rows"]} for s in summary["stages"]}
    embed = next(s["stats"] for s in summary["stages"] if s["name"] == "embed")
    return {
        "prompts": n_prompts,
        "run_dir": str(run_dir),
        "log": str(log_path),
        "wall_s": round(wall, 3),
        "rebuild_s": summary["seconds"],
        "peak_rss_bytes": memory.peak_bytes,
        "peak_rss_processes": memory.peak_processes,
        "peak_pss_bytes": memory.peak_pss_bytes,
        "peak_pss_top": memory.peak_pss_top,
        "stage_memory": memory.stage_peaks(log_path),
        "stages": stages,
        "embed": embed | {"texts_per_s": embed["unique_texts"] / max(stages["embed"]["seconds"], 1e-9)},
        "reports": summary["reports"],
        "bundle": summary["bundle"],
    }


def stage_texts(config: RebuildConfig, n_texts: int) -> list[str]:
    """Unique texts in the embed stage's mix: prompts of the configured length mix and their `prompt` descriptions
    (the prompt cut to describe.prompt_backend_chars), from the same generator, a seeded sample of `n_texts`."""
    import random

    from finerouter.data.synthetic import generate_synthetic

    synthetic = config.data.synthetic.model_copy(update={"n_prompts": n_texts, "seed": config.data.synthetic.seed + 1})
    prompts = list(generate_synthetic(synthetic).prompts["prompt"])
    cut = config.describe.prompt_backend_chars
    texts = list(dict.fromkeys([*prompts, *(p[:cut] for p in prompts)]))
    return random.Random(0).sample(texts, min(n_texts, len(texts)))


def raw_encoder_throughput(config: RebuildConfig, n_texts: int) -> dict[str, Any]:
    """The encoder called directly in this process, as the embed stage would run it (runtime, dtype, batch size),
    on all of Ray's CPUs as torch threads (or on the GPU): texts per second after a warm-up batch."""
    import torch

    from finerouter.embed.encoder import encode
    from finerouter.stages.embed import encoder_choice

    cfg = config.embed
    device = "cuda" if cfg.num_gpus > 0 else "cpu"
    choice = encoder_choice(cfg)
    threads = config.ray.num_cpus or torch.get_num_threads()
    torch.set_num_threads(threads)
    texts = stage_texts(config, n_texts)
    encode(texts[: cfg.batch_size], cfg.encoder, device, cfg.batch_size, choice.dtype, choice.runtime)  # warm-up
    started = time.perf_counter()
    encode(texts, cfg.encoder, device, cfg.batch_size, choice.dtype, choice.runtime)
    seconds = time.perf_counter() - started
    return {
        "texts": len(texts),
        "seconds": round(seconds, 3),
        "texts_per_s": len(texts) / seconds,
        "threads": threads,
        "device": device,
        "runtime": choice.runtime,
        "dtype": choice.dtype,
        "reason": choice.reason,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES),
        help="prompts per rebuild; growth exponents need two sizes or more (one size: its times alone)",
    )  # fmt: skip
    parser.add_argument("--config", type=Path, default=REPO / "configs" / "scale.yaml")
    parser.add_argument("--out", type=Path, default=REPO / "artifacts" / "scale-rebuild")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--split-cap", type=int, default=35_000, help="most prompts in each of dev and test")
    parser.add_argument("--encoder-texts", type=int, default=6000, help="texts of the raw encoder measurement")
    parser.add_argument("--sample-interval", type=float, default=0.5, help="seconds between memory samples")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    config = load_config(args.config, args.overrides)
    before = raw_encoder_throughput(config, args.encoder_texts)
    runs = [
        run_size(args.config, out, n, args.split_cap, args.overrides, args.sample_interval) for n in sorted(args.sizes)
    ]
    after = raw_encoder_throughput(config, args.encoder_texts)
    # Timed before and after the rebuilds (one timing of 2,000 texts on this VM varied by up to 15%): their mean.
    raw = before | {
        "texts_per_s": (before["texts_per_s"] + after["texts_per_s"]) / 2,
        "seconds": round(before["seconds"] + after["seconds"], 3),
        "texts_per_s_before_after": [before["texts_per_s"], after["texts_per_s"]],
    }
    for r in runs:
        r["embed"]["efficiency"] = r["embed"]["texts_per_s"] / raw["texts_per_s"]
    result = {
        "machine": machine(),
        "config": str(args.config),
        "overrides": args.overrides,
        "split_cap": args.split_cap,
        "raw_encoder": raw,
        "runs": runs,
        "exponents": growth_exponents(runs),
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "scale_rebuild.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "scale_rebuild.md").write_text(markdown(result))
    print(markdown(result))
    return result


# ---- the report: growth exponents and the markdown table -------------------------------------------------
def growth_exponent(prompts: list[int], seconds: list[float]) -> float | None:
    """b of seconds ~ a * prompts^b by least squares on the logs; None with fewer than two positive points."""
    points = [(n, s) for n, s in zip(prompts, seconds, strict=True) if n > 0 and s > 0]
    if len({n for n, _ in points}) < 2:
        return None
    x, y = np.log([n for n, _ in points]), np.log([s for _, s in points])
    return float(np.polyfit(x, y, 1)[0])


def growth_exponents(runs: list[dict[str, Any]]) -> dict[str, float | None]:
    """Per stage (every stage of the first run), and for the whole rebuild and the peak memory."""
    prompts = [r["prompts"] for r in runs]
    out = {
        name: growth_exponent(prompts, [r["stages"].get(name, {}).get("seconds", 0.0) for r in runs])
        for name in runs[0]["stages"]
    }
    out["rebuild"] = growth_exponent(prompts, [r["rebuild_s"] for r in runs])
    out["peak_rss"] = growth_exponent(prompts, [float(r["peak_rss_bytes"]) for r in runs])
    out["peak_pss"] = growth_exponent(prompts, [float(r["peak_pss_bytes"]) for r in runs])
    return out


def machine() -> dict[str, Any]:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _exp(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def markdown(result: dict[str, Any]) -> str:
    runs, exps, raw = result["runs"], result["exponents"], result["raw_encoder"]
    sizes = [f"{r['prompts']:,}" for r in runs]
    m = result["machine"]
    lines = [
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['when']}. Config: {result['config']} "
        f"{' '.join('--set ' + o for o in result['overrides'])}".rstrip(),
        "",
        "| stage | " + " | ".join(f"{s} prompts (s)" for s in sizes) + " | growth exponent |",
        "|---|" + "---|" * (len(runs) + 1),
    ]
    for name in runs[0]["stages"]:
        cells = [f"{r['stages'].get(name, {}).get('seconds', float('nan')):.1f}" for r in runs]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {_exp(exps.get(name))} |")
    lines.append(
        "| **rebuild** | " + " | ".join(f"{r['rebuild_s']:.1f}" for r in runs) + f" | {_exp(exps['rebuild'])} |"
    )
    gib = [f"{r['peak_rss_bytes'] / 2**30:.2f}" for r in runs]
    lines.append("| peak summed RSS (GiB) | " + " | ".join(gib) + f" | {_exp(exps['peak_rss'])} |")
    gib = [f"{r['peak_pss_bytes'] / 2**30:.2f}" for r in runs]
    lines.append("| peak summed PSS (GiB) | " + " | ".join(gib) + f" | {_exp(exps['peak_pss'])} |")
    lines += [
        "",
        "Peak summed PSS / RSS while each stage ran (GiB):",
        "",
        "| stage | " + " | ".join(f"{s} prompts" for s in sizes) + " |",
        "|---|" + "---|" * len(runs),
    ]
    for name in runs[0]["stages"]:
        cells = []
        for r in runs:
            mem = r["stage_memory"].get(name)
            cells.append("n/a" if mem is None else f"{mem['pss_bytes'] / 2**30:.2f} / {mem['rss_bytes'] / 2**30:.2f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    for r in runs:
        top = ", ".join(f"{p['name']} {p['pss_bytes'] / 2**30:.2f}" for p in r["peak_pss_top"])
        lines.append(f"\nLargest processes at the PSS peak of {r['prompts']:,} prompts (PSS GiB): {top}.")
    lines += [
        "",
        f"Raw encoder: {raw['runtime']} {raw['dtype']} on {raw['device']}, {raw['threads']} thread(s), "
        f"{raw['texts']:,} texts: {raw['texts_per_s']:.1f} texts/s (the mean of "
        f"{' and '.join(f'{v:.1f}' for v in raw['texts_per_s_before_after'])}, timed before and after the rebuilds).",
        "",
        "| prompts | embed actors x threads | dtype | unique texts | embed texts/s | efficiency vs raw encoder |",
        "|---|---|---|---|---|---|",
    ]
    for r in runs:
        e = r["embed"]
        lines.append(
            f"| {r['prompts']:,} | {e['workers']} x {e['threads_per_worker']} | {e['encoder_dtype']} | "
            f"{e['unique_texts']:,} | {e['texts_per_s']:.1f} | {e['efficiency']:.0%} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
