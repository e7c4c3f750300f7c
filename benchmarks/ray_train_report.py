"""What one `ray.train.report` costs a training worker, by the controller's poll interval.

Ray Train's worker hands each report to a queue of one slot that the controller empties once per poll
(RAY_TRAIN_HEALTH_CHECK_INTERVAL_S, 2 s by default), so a loop that reports every epoch waits up to a poll per
epoch. Stage 2 reports every epoch (the dashboard's per-epoch metrics) and sets the interval from
`ray.fault_tolerance.train_poll_interval_s` (0.1 s by default). This times 10 plain reports and 5 with a 4 MB
checkpoint in one worker, for each interval given.

Usage:
  python benchmarks/ray_train_report.py --intervals 2.0 0.5 0.1
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any


def loop(config: dict[str, Any]) -> None:
    import ray.train
    import torch

    started = time.perf_counter()
    for i in range(10):
        ray.train.report({"i": i})
    plain = (time.perf_counter() - started) / 10
    started = time.perf_counter()
    for i in range(5):
        with tempfile.TemporaryDirectory() as directory:
            torch.save({"x": torch.zeros(1_000_000)}, Path(directory) / "state.pt")
            ray.train.report({"i": i}, checkpoint=ray.train.Checkpoint.from_directory(directory))
    with_checkpoint = (time.perf_counter() - started) / 5
    with tempfile.TemporaryDirectory() as directory:  # Result.metrics are those of the last checkpoint
        ray.train.report(
            {"plain_s": plain, "checkpoint_s": with_checkpoint},
            checkpoint=ray.train.Checkpoint.from_directory(directory),
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--intervals", type=float, nargs="+", default=[2.0, 0.1])
    args = parser.parse_args()
    import ray
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    from finerouter.stage2.ray_runner import train_poll_interval

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    print("| poll interval (s) | plain report (s) | report with checkpoint (s) | whole fit (s) |")
    print("| --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as storage:
        for k, interval in enumerate(args.intervals):
            trainer = TorchTrainer(
                loop,
                scaling_config=ScalingConfig(num_workers=1),
                run_config=RunConfig(storage_path=storage, name=f"report-{k}"),
            )
            started = time.perf_counter()
            with train_poll_interval(interval):
                result = trainer.fit()
            fit = time.perf_counter() - started
            m = result.metrics
            print(f"| {interval} | {m['plain_s']:.3f} | {m['checkpoint_s']:.3f} | {fit:.1f} |")


if __name__ == "__main__":
    main()
