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
    p.update(400)  # 400 rows in the 4 s since the first 100
    assert caplog.messages == ["embed: 500/1,000 texts (50%), 100.0 texts/s, ETA 5 s"]
    now[0] = 6.0
    p.update(100)
    assert len(caplog.messages) == 1
    now[0] = 8.0
    p.update(400)  # the last rows are always logged
    assert caplog.messages[-1] == "embed: 1,000/1,000 texts (100%), 128.6 texts/s, ETA 0 s"


def test_a_slow_start_does_not_stretch_the_eta(monkeypatch: pytest.MonkeyPatch) -> None:
    """Encoder actors spend their first seconds loading the model: counted in, 200 texts after 31 s read as
    6.5 texts/s and an ETA of 2 minutes for what takes 8 s at the 100 texts/s they run at."""
    now = [0.0]
    monkeypatch.setattr(progress_mod.time, "perf_counter", lambda: now[0])
    p = Progress("demo", "embed", 1000, unit="texts")
    now[0] = 30.0
    p.update(100)
    assert p.rate == pytest.approx(100 / 30)  # one update: nothing better to go on
    now[0] = 31.0
    p.update(100)
    assert p.rate == pytest.approx(100.0) and p.eta_s() == pytest.approx(8.0)


def test_eta_unknown_before_any_row() -> None:
    p = Progress("demo", "embed", 10)
    assert p.eta_s() is None and "ETA unknown" in p.line()
