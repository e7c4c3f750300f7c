"""Progress lines: rows done, share, throughput and ETA, at most one line per interval and always at the end."""

from __future__ import annotations

import logging

import pytest

from finerouter.pipeline import progress as progress_mod
from finerouter.pipeline.progress import Progress, format_seconds


def test_format_seconds() -> None:
    assert [format_seconds(s) for s in (0.4, 59, 61, 3600 * 2 + 65)] == ["0 s", "59 s", "1 min 01 s", "2 h 01 min"]


def test_progress_lines_rate_eta_and_throttling(monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    now = [0.0]
    monkeypatch.setattr(progress_mod.time, "perf_counter", lambda: now[0])
    caplog.set_level(logging.INFO, logger="finerouter.rebuild")
    p = Progress("demo", "embed", 1000, unit="texts", interval_s=5.0)
    now[0] = 1.0
    p.update(100)  # within the interval: nothing logged
    assert caplog.messages == []
    now[0] = 5.0
    p.update(400)  # 500 rows in 5 s
    assert caplog.messages == ["embed: 500/1,000 texts (50%), 100.0 texts/s, ETA 5 s"]
    now[0] = 6.0
    p.update(100)
    assert len(caplog.messages) == 1
    now[0] = 8.0
    p.update(400)  # the last rows are always logged
    assert caplog.messages[-1] == "embed: 1,000/1,000 texts (100%), 125.0 texts/s, ETA 0 s"


def test_eta_unknown_before_any_row() -> None:
    p = Progress("demo", "embed", 10)
    assert p.eta_s() is None and "ETA unknown" in p.line()
