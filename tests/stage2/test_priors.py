"""The stage-1 prior fused with stage 2: the paper's median by default, or a task mean shrunk toward all prompts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from finerouter.config import load_config
from finerouter.errors import ConfigError
from finerouter.stage2.data import load_tasks, shrink, stage1_priors

MODELS = ["a", "b"]
# Train quality: task 0 = rows 0-1, task 1 = rows 2-9, Others = rows 10-11.
QUALITY = np.array([[1, 0], [1, 1], [0, 1], [0, 1], [0, 1], [0, 0], [0, 1], [0, 1], [0, 1], [0, 1], [1, 0], [0, 0]],
                   dtype=float)  # fmt: skip


def _tasks(with_others: bool = True):
    groups = {0: QUALITY[:2], 1: QUALITY[2:10], -1: QUALITY[10:]}
    rows = [
        {"task_id": t, "size": len(q), "summary": f"task {t}", "candidates": ["a"], "fused_ranking": MODELS,
         "prior": np.median(q, axis=0).tolist(), "mean_quality": q.mean(axis=0).tolist()}
        for t, q in groups.items() if with_others or t != -1
    ]  # fmt: skip
    frame = pd.DataFrame(rows)
    return load_tasks(frame, np.eye(len(frame), 4, dtype=np.float32), MODELS, QUALITY)


def test_paper_default_is_the_unshrunk_median() -> None:
    tasks = _tasks()
    np.testing.assert_array_equal(stage1_priors(tasks, QUALITY), tasks.priors)
    np.testing.assert_array_equal(stage1_priors(tasks, QUALITY)[-1], [0.5, 0.0])  # Others is the last row


def test_shrunk_mean_moves_small_tasks_most() -> None:
    tasks = _tasks()
    overall = QUALITY.mean(axis=0)  # [0.25, 0.667]
    priors = stage1_priors(tasks, QUALITY, "mean", shrinkage=4.0)
    expected_small = (2 * np.array([1.0, 0.5]) + 4 * overall) / 6
    expected_large = (8 * np.array([0.0, 0.875]) + 4 * overall) / 12
    np.testing.assert_allclose(priors[0], expected_small)
    np.testing.assert_allclose(priors[1], expected_large)
    raw = stage1_priors(tasks, QUALITY, "mean")
    moved = np.abs(priors - raw).sum(axis=1)
    assert moved[0] > moved[1]  # the 2-prompt task moves more than the 8-prompt one
    np.testing.assert_allclose(shrink(raw[:2], np.array([2.0, 8.0]), overall, 0.0), raw[:2])


def test_without_an_others_row_the_no_task_prior_is_the_all_prompt_statistic() -> None:
    priors = stage1_priors(_tasks(with_others=False), QUALITY, "mean", shrinkage=3.0)
    np.testing.assert_allclose(priors[-1], QUALITY.mean(axis=0))


def test_bad_prior_settings_fail_with_the_choices() -> None:
    with pytest.raises(ValueError, match="unknown prior statistic 'mode'; valid: median, mean"):
        stage1_priors(_tasks(), QUALITY, "mode")
    base = ["data.format=synthetic"]
    with pytest.raises(ConfigError, match=r"stage2\.prior\.shrinkage"):
        load_config(None, [*base, "stage2.prior.shrinkage=-1"])
    with pytest.raises(ConfigError, match=r"stage2\.prior\.statistic"):
        load_config(None, [*base, "stage2.prior.statistic=mode"])
    prior = load_config(None, [*base, "stage2.prior.statistic=mean", "stage2.prior.shrinkage=20"]).stage2.prior
    assert (prior.statistic, prior.shrinkage) == ("mean", 20.0)
