"""Progress of a running rebuild: log lines (rows, throughput, ETA) and Ray metrics the dashboard can chart.

Log lines go to the driver's log, which `ray job logs` and the dashboard's job page show. When the driver is
connected to Ray, the current stage and its rows are also exported as `ray.util.metrics` gauges
(`finerouter_rebuild_stage_running`, `finerouter_rebuild_stage_rows_done`, `finerouter_rebuild_stage_rows_total`),
tagged with the run and stage, for the dashboard's metrics view (Prometheus/Grafana).
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

log = logging.getLogger("finerouter.rebuild")


def format_seconds(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


_GAUGES: dict[str, Any] = {}


def report_metric(name: str, value: float, run: str, stage: str) -> None:
    """Set one of the rebuild gauges (`running`, `done`, `total`); a no-op until the driver is connected to Ray."""
    ray = sys.modules.get("ray")
    if ray is None or not ray.is_initialized():
        return
    if not _GAUGES:
        from ray.util.metrics import Gauge

        tags = ("run", "stage")
        _GAUGES["running"] = Gauge("finerouter_rebuild_stage_running", "1 while the stage runs", tag_keys=tags)
        _GAUGES["done"] = Gauge("finerouter_rebuild_stage_rows_done", "rows processed so far", tag_keys=tags)
        _GAUGES["total"] = Gauge("finerouter_rebuild_stage_rows_total", "rows the stage will process", tag_keys=tags)
    _GAUGES[name].set(value, tags={"run": run, "stage": stage})


class Progress:
    """Counts rows of one stage and logs `done/total (pct), rows/s, ETA` at most every `interval_s` seconds. The
    rate runs from the first rows done, so a start-up (actors loading a model) does not stretch the ETA."""

    def __init__(
        self,
        run: str,
        stage: str,
        total: int,
        *,
        unit: str = "rows",
        interval_s: float = 15.0,
        logger: logging.Logger | None = None,
    ) -> None:
        self.run, self.stage, self.total, self.unit = run, stage, total, unit
        self.interval_s = interval_s
        self.log = logger or log
        self.done = 0
        self.started = time.perf_counter()
        self._last_log = self.started
        self._first: tuple[float, int] | None = None  # when the first rows were done, and how many
        report_metric("total", total, run, stage)
        report_metric("done", 0, run, stage)

    @property
    def rate(self) -> float:
        now = time.perf_counter()
        if self._first is not None and now > self._first[0] and self.done > self._first[1]:
            return (self.done - self._first[1]) / (now - self._first[0])
        elapsed = now - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    def eta_s(self) -> float | None:
        rate = self.rate
        return (self.total - self.done) / rate if rate > 0 else None

    def line(self) -> str:
        pct = 100.0 * self.done / self.total if self.total else 100.0
        eta = self.eta_s()
        return (
            f"{self.stage}: {self.done:,}/{self.total:,} {self.unit} ({pct:.0f}%), {self.rate:,.1f} {self.unit}/s, "
            f"ETA {format_seconds(eta) if eta is not None else 'unknown'}"
        )

    def update(self, n: int) -> None:
        self.done += n
        report_metric("done", self.done, self.run, self.stage)
        now = time.perf_counter()
        if self._first is None and self.done > 0:
            self._first = (now, self.done)
        if now - self._last_log >= self.interval_s or self.done >= self.total:
            self._last_log = now
            self.log.info("%s", self.line())
