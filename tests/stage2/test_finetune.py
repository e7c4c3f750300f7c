"""Fine-tuning the encoder (`stage2.encoder: finetune`) with the real MiniLM on a small two-skill data set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from finerouter.embed.encoder import encode, local_model_dir
from finerouter.stage2.finetune import encoder_weights, save_finetuned_encoder
from finerouter.stage2.ray_runner import train_local

CODE = [f"Write a python function that {task} number {i}." for i in range(12) for task in ("sorts a list", "parses")]
TRANSLATE = [f"Translate sentence {i} into {lang}." for i in range(12) for lang in ("French", "German")]
SETTINGS = {
    "epochs": 8, "batch_size": 8, "encoder_lr": 1e-4, "lr": 1e-2, "weight_decay": 0.0, "patience": 2, "max_length": 32,
    "checkpoint_every": 1, "head": {"adapter_dim": 16, "model_dim": 4, "hidden": 8, "dropout": 0.0},
}  # fmt: skip


def _split(texts_a: list[str], texts_b: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Model 0 answers the first kind, model 1 the second; one outcome is missing (NaN)."""
    texts = np.asarray(texts_a + texts_b, dtype=object)
    quality = np.array([[1.0, 0.0]] * len(texts_a) + [[0.0, 1.0]] * len(texts_b))
    quality[0, 1] = np.nan
    return texts, quality


@pytest.fixture(scope="module")
def finetuned() -> dict:
    texts, quality = _split(CODE[::2], TRANSLATE[::2])
    texts_dev, quality_dev = _split(CODE[1::2], TRANSLATE[1::2])
    data = {"encoder": "minilm", "texts": texts, "quality": quality, "texts_dev": texts_dev, "quality_dev": quality_dev}
    return train_local("encoder", data, SETTINGS, seed=0, threads=2)


def test_finetuning_lowers_the_dev_loss(finetuned) -> None:
    history = [h for h in finetuned["history"] if h["epoch"] >= 0]
    assert 1 <= len(history) <= SETTINGS["epochs"]
    assert finetuned["best_dev_loss"]["encoder"] < 0.5 * history[0]["dev_loss"]


def test_the_saved_encoder_loads_as_an_encoder_and_moved(finetuned, tmp_path: Path) -> None:
    weights = encoder_weights(finetuned["model"])
    base = local_model_dir("minilm")
    from safetensors.torch import load_file

    original = load_file(base / "model.safetensors")
    moved = [k for k in weights if k in original and not torch.equal(weights[k], original[k])]
    assert moved, "no encoder weight changed"
    out = save_finetuned_encoder(base, weights, tmp_path / "encoder")
    assert all((out / name).is_file() for name in ("modules.json", "tokenizer.json", "model.safetensors"))
    texts = [CODE[1], TRANSLATE[1]]
    tuned, frozen = encode(texts, str(out)), encode(texts, "minilm")
    assert tuned.shape == frozen.shape == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(tuned, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(tuned, frozen, atol=1e-3)
    # The two kinds of prompt move apart: the encoder learnt what separates the models' outcomes.
    assert float(tuned[0] @ tuned[1]) < float(frozen[0] @ frozen[1])


def test_length_batches_cover_every_row_once_with_little_padding() -> None:
    from finerouter.stage2.finetune import _Batches

    rng = np.random.default_rng(0)
    ids = [[1] * int(n) for n in rng.integers(1, 128, size=1000)]
    rows = _Batches(ids, 0, torch.device("cpu"))
    order = torch.randperm(1000, generator=torch.Generator().manual_seed(1))
    batches = rows.by_length(order, torch.Generator().manual_seed(2), 16)
    assert sorted(torch.cat(batches).tolist()) == list(range(1000))
    assert all(len(b) <= 16 for b in batches)
    padded = sum(len(b) * max(len(ids[int(r)]) for r in b) for b in batches)
    plain = sum(len(b) * max(len(ids[int(r)]) for r in b) for b in order.split(16))
    assert padded < 0.7 * plain


@pytest.mark.slow
def test_two_ddp_workers_fine_tune_on_ray_train(ray_local, tmp_path: Path) -> None:
    """Data-parallel as on a GPU cluster (gloo on CPU here): every trainable weight must reach the loss."""
    from finerouter.stage2.config import ScalingSettings
    from finerouter.stage2.ray_runner import train_on_ray

    texts, quality = _split(CODE[::2], TRANSLATE[::2])
    texts_dev, quality_dev = _split(CODE[1::2], TRANSLATE[1::2])
    data = {"encoder": "minilm", "texts": texts, "quality": quality, "texts_dev": texts_dev, "quality_dev": quality_dev}
    state = train_on_ray(
        "encoder", data, {**SETTINGS, "epochs": 2}, seed=0, scaling=ScalingSettings(num_workers=2),
        storage_path=tmp_path, name="ft",
    )  # fmt: skip
    history = [h for h in state["history"] if h["epoch"] >= 0]
    assert state["completed"] == ["encoder"] and len(history) == 2
    assert history[1]["dev_loss"] < history[0]["dev_loss"]
    from transformers import AutoModel

    base = AutoModel.from_pretrained(local_model_dir("minilm"))
    assert encoder_weights(state["model"]).keys() == base.state_dict().keys()
