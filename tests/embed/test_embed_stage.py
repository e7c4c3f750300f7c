"""The embed stage on a local Ray: `workers: auto` sizes the pool to the CPUs Ray offers, each actor runs torch on
as many threads as it holds CPUs, and rows come back in input order whatever the length ordering."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from finerouter.batch import Resources
from finerouter.embed.config import EmbedConfig
from finerouter.embed.encoder import encode
from finerouter.embed.stage import EmbedTexts
from tests.conftest import REPO_ROOT

TEXTS = ["short one", "a " * 300 + "long prompt", "medium length prompt about astronomy", "short one", "x"]


def test_auto_plan_uses_every_cpu_ray_offers(ray_local) -> None:
    from finerouter.stages.embed import plan_embedding

    cpus = int(ray_local.available_resources()["CPU"])
    plan = plan_embedding(EmbedConfig(dtype="float32"))
    assert (plan.workers, plan.threads) == (cpus, 1)
    assert f"Ray offers {cpus:g} CPU" in plan.describe() and "torch float32" in plan.describe()
    plan = plan_embedding(EmbedConfig(num_cpus=cpus, dtype="float32"))
    assert (plan.workers, plan.threads) == (1, cpus)
    assert plan_embedding(EmbedConfig(workers=1, dtype="float32")).stats()["workers"] == 1


def test_actor_setup_sets_torch_threads_to_its_cpus() -> None:
    import torch

    before = torch.get_num_threads()
    try:
        stage = EmbedTexts(resources=Resources(num_cpus=1))
        stage.setup()
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_auto_pool_embeds_in_input_order(ray_local) -> None:
    from finerouter.stages.embed import embed_texts

    vectors = embed_texts(TEXTS, EmbedConfig(batch_size=2, dtype="float32"))
    np.testing.assert_allclose(vectors, encode(TEXTS), atol=1e-5)


def recording_stage(log: Path, delay_s: float = 0.0) -> type[EmbedTexts]:
    """An EmbedTexts that appends, per encoder call, when it finished and the rows it got to `log` (each line:
    `<unix time> <row> <row> ...`), `delay_s` after encoding; defined here so Ray ships it by value."""
    import time

    class RecordingEmbedTexts(EmbedTexts):
        def transform(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            out = super().transform(batch)
            time.sleep(delay_s)
            with open(log, "a") as f:
                f.write(" ".join([str(time.time()), *(str(r) for r in sorted(batch["row"]))]) + "\n")
            return out

    return RecordingEmbedTexts


def test_vectors_reach_the_driver_while_the_pool_still_runs(ray_local, tmp_path, monkeypatch) -> None:
    """`workers: auto` gives every CPU to an encoder actor until the last block, so anything between the pool and
    the driver that needs a CPU waits for the end: progress showed 0% (and an ETA of days) for a 23-minute stage.
    Each block's vectors must arrive as it finishes."""
    import time

    from finerouter.stages import embed as embed_module

    log = tmp_path / "calls.txt"

    class ArrivalTimes:
        def __init__(self) -> None:
            self.times: list[float] = []

        def update(self, n: int) -> None:
            self.times.append(time.time())

    arrivals = ArrivalTimes()
    monkeypatch.setattr(embed_module, "EmbedTexts", recording_stage(log, delay_s=0.2))
    texts = [f"prompt number {i} about topic {i % 7}" for i in range(40)]
    vectors = embed_module.embed_texts(texts, EmbedConfig(batch_size=2, dtype="float32"), progress=lambda n: arrivals)
    finished = sorted(float(line.split()[0]) for line in log.read_text().splitlines())
    assert len(finished) == len(arrivals.times) == 10  # blocks of two encoder batches
    assert arrivals.times[0] < finished[-1]
    np.testing.assert_allclose(vectors, encode(texts), atol=1e-5)


def test_blocks_hold_texts_of_similar_length_in_an_order_that_keeps_the_rate() -> None:
    """Each block is a run of the length-sorted texts (so batch mates do not depend on the pool), every text is in
    exactly one, and the blocks are shuffled: with a tail of long prompts, the first half of the blocks holds about
    half of the characters (longest first, it held 85% here), so texts/s and the progress ETA hold over the run."""
    from finerouter.stages.embed import length_blocks

    rng = np.random.default_rng(3)
    lengths = np.where(rng.random(2000) < 0.1, rng.integers(1000, 4000, 2000), rng.integers(50, 400, 2000))
    texts = np.array(["x" * n for n in lengths], dtype=object)
    blocks = length_blocks(texts, 64)
    assert [len(b) for b in blocks] == [64] * 31 + [16]
    rows = np.concatenate([b["row"].to_numpy() for b in blocks])
    assert sorted(rows) == list(range(2000))
    assert all((b["text"].to_numpy() == texts[b["row"]]).all() for b in blocks)
    ranked = np.argsort(-lengths, kind="stable")
    position = np.empty(2000, dtype=int)
    position[ranked] = np.arange(2000)
    for block in blocks:
        spots = np.sort(position[block["row"]])
        assert spots[0] % 64 == 0 and (np.diff(spots) == 1).all()
    first_half = sum(lengths[b["row"]].sum() for b in blocks[:16]) / lengths.sum()
    assert 0.35 < first_half < 0.65
    assert [b["row"].tolist() for b in length_blocks(texts, 64)] == [b["row"].tolist() for b in blocks]


def test_each_encoder_call_gets_exactly_one_block(ray_local, tmp_path, monkeypatch) -> None:
    """The blocks go out shuffled, the short one last: every Ray Data batch the actors get is one whole block, so
    a text's batch mates (its bfloat16 result) are the same in any block order and pool size."""
    from finerouter.stages import embed as embed_module

    log = tmp_path / "calls.txt"
    monkeypatch.setattr(embed_module, "EmbedTexts", recording_stage(log))
    texts = [f"prompt {i} " + "word " * (i % 9) for i in range(45)]
    embed_module.embed_texts(texts, EmbedConfig(batch_size=2, dtype="float32"))
    blocks = embed_module.length_blocks(np.unique(np.asarray(texts, dtype=object)), 4)
    assert len(blocks[-1]) == 1 and {len(b) for b in blocks[:-1]} == {4}
    expected = sorted(" ".join(str(r) for r in sorted(b["row"])) for b in blocks)
    assert sorted(line.split(" ", 1)[1] for line in log.read_text().splitlines()) == expected


def test_default_config_is_auto_sized() -> None:
    cfg = EmbedConfig()
    assert (cfg.workers, cfg.dtype, cfg.runtime) == ("auto", "float32", "auto")
    with pytest.raises(ValueError, match="workers"):
        EmbedConfig(workers=0)


def test_preflight_asks_for_one_actor_when_auto() -> None:
    from finerouter.config import load_config
    from finerouter.stages.demands import embed_demand

    config = load_config(REPO_ROOT / "configs" / "scale.yaml", ["embed.num_cpus=2"])
    assert embed_demand("embed", config).bundles == ({"CPU": 2.0},)


def test_encoder_choice_refuses_what_cannot_run_before_any_actor_starts() -> None:
    from finerouter.errors import ConfigError
    from finerouter.stages.embed import encoder_choice

    with pytest.raises(ConfigError, match="valid \\(runtime: dtypes\\)"):
        encoder_choice(EmbedConfig(runtime="onnxruntime", dtype="bfloat16"))
    with pytest.raises(ConfigError, match="runs on CPU only, not cuda"):
        encoder_choice(EmbedConfig(runtime="onnxruntime", num_gpus=1))
    assert encoder_choice(EmbedConfig(dtype="float32")).dtype == "float32"


def test_cpu_encoder_actors_start_with_small_kernel_caches(ray_local) -> None:
    """Each packed batch has its own shape, so oneDNN's and ideep's per-shape caches would only grow; the actor's
    process gets its environment from the stage (map_stage), before torch loads."""
    import os

    import ray.data

    from finerouter.batch import BatchStage, map_stage
    from finerouter.embed.stage import CPU_SHAPE_CACHE

    caps = {"ONEDNN_PRIMITIVE_CACHE_CAPACITY": str(CPU_SHAPE_CACHE), "LRU_CACHE_CAPACITY": str(CPU_SHAPE_CACHE)}
    assert EmbedTexts(resources=Resources(num_cpus=1)).worker_env() == caps
    assert EmbedTexts(resources=Resources(num_gpus=1)).worker_env() == {}
    assert EmbedTexts(runtime="onnxruntime").worker_env() == {}

    class EnvProbe(BatchStage):
        input_columns = ("text",)
        output_columns = ("env",)

        def worker_env(self) -> dict[str, str]:
            return caps

        def transform(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            seen = ",".join(os.environ.get(k, "unset") for k in sorted(caps))
            return {"env": np.array([seen] * len(batch["text"]))}

    rows = map_stage(ray.data.from_items([{"text": t} for t in TEXTS]), EnvProbe(), batch_size=2, workers=2).take_all()
    assert {r["env"] for r in rows} == {",".join(caps[k] for k in sorted(caps))}
