"""The sentence encoder: float32 reproduces itself; bfloat16 and onnxruntime stay close to it; bad runtime/dtype
combinations fail with the valid ones."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest

from finerouter.embed.encoder import encode, encoder_path
from finerouter.errors import ConfigError, MissingDependencyError
from tests.embed.markers import bf16_cpu

TEXTS = [
    "What is the derivative of x^3 + 2x?",
    "Write a python function that parses ISO 8601 dates and returns a datetime.",
    "Which of the following best describes the role of mitochondria in a cell? A) energy B) storage C) transport",
    "Translate 'good morning, how are you?' into French.",
]

needs_onnxruntime = pytest.mark.skipif(
    importlib.util.find_spec("onnxruntime") is None or importlib.util.find_spec("onnx") is None,
    reason='onnx/onnxruntime are not installed (pip install -e ".[onnx]"), so encoder_runtime onnxruntime cannot run',
)


def sentence_transformer():
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(encoder_path("minilm"), device="cpu")


def test_torch_runtime_equals_sentence_transformers() -> None:
    # The torch runtime runs the model with transformers alone (a replica starts ~4 s sooner); same numbers.
    texts = [*TEXTS, "  padded with spaces  ", "Ünïcödé and emoji 🙂", "word " * 400]
    expected = sentence_transformer().encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    np.testing.assert_allclose(encode(texts), expected, atol=1e-5)


def test_torch_runtime_refuses_other_poolings(tmp_path) -> None:
    import shutil

    from finerouter.embed.mean_pooling import MeanPoolingEncoder

    model_dir = tmp_path / "cls-pooled"
    shutil.copytree(encoder_path("minilm"), model_dir)
    pooling = model_dir / "1_Pooling" / "config.json"
    pooling.write_text(pooling.read_text().replace('"pooling_mode_cls_token": false', '"pooling_mode_cls_token": true')
                       .replace('"pooling_mode_mean_tokens": true', '"pooling_mode_mean_tokens": false'))  # fmt: skip
    with pytest.raises(ConfigError, match=r"pooling_mode_cls_token.*mean pooling only"):
        MeanPoolingEncoder(model_dir)
    with pytest.raises(ConfigError, match="neither a local directory nor in the local Hugging Face cache"):
        encode(["x"], name="no-such-org/no-such-encoder")


def test_float32_embeddings_are_unit_norm_and_deterministic() -> None:
    a, b = encode(TEXTS), encode(list(reversed(TEXTS)))[::-1]
    assert a.dtype == np.float32 and a.shape == (4, 384)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(a, b, atol=1e-5)


@bf16_cpu
def test_bfloat16_embeddings_stay_close_to_float32() -> None:
    full, half = encode(TEXTS), encode(TEXTS, dtype="bfloat16")
    assert half.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(half, axis=1), 1.0, atol=1e-5)
    cosine = (full * half).sum(axis=1)
    assert cosine.min() > 0.999
    # Still the same geometry: each text's nearest float32 neighbour is itself.
    assert (np.argmax(half @ full.T, axis=1) == np.arange(len(TEXTS))).all()


def test_unknown_dtype_or_runtime_names_the_choices() -> None:
    valid = r"valid \(runtime: dtypes\): torch: float32, bfloat16; onnxruntime: float32$"
    with pytest.raises(ConfigError, match=r"'float16' is not supported with encoder runtime torch; " + valid):
        encode(TEXTS, dtype="float16")
    with pytest.raises(
        ConfigError, match=r"'bfloat16' is not supported with encoder runtime onnxruntime \(.*no bfloat16.*\); " + valid
    ):
        encode(TEXTS, dtype="bfloat16", runtime="onnxruntime")
    with pytest.raises(ConfigError, match=r"'int8' is not supported with encoder runtime onnxruntime"):
        encode(TEXTS, dtype="int8", runtime="onnxruntime")
    with pytest.raises(ConfigError, match=r"runtime 'tensorrt' is not supported; valid: torch, onnxruntime"):
        encode(TEXTS, runtime="tensorrt")
    with pytest.raises(ConfigError, match="onnxruntime runs on CPU only"):
        encode(TEXTS, runtime="onnxruntime", device="cuda")


def test_missing_onnxruntime_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    from finerouter.embed.onnx_encoder import load_onnx_encoder

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # makes `import onnxruntime` fail
    load_onnx_encoder.cache_clear()
    with pytest.raises(
        MissingDependencyError, match=r"needs the package 'onnxruntime'.*pip install .*finerouter\[onnx\]"
    ):
        encode(TEXTS, runtime="onnxruntime")
    load_onnx_encoder.cache_clear()


@needs_onnxruntime
def test_onnxruntime_embeddings_match_torch() -> None:
    texts = [*TEXTS, "  padded with spaces  ", "long prompt " * 300]  # the last is truncated at 256 tokens
    full, onnx = encode(texts), encode(texts, runtime="onnxruntime")
    assert onnx.dtype == np.float32 and onnx.shape == full.shape
    np.testing.assert_allclose(np.linalg.norm(onnx, axis=1), 1.0, atol=1e-5)
    assert (full * onnx).sum(axis=1).min() >= 0.99999
    # Batches are padded to their longest text; a text alone gives the same embedding.
    np.testing.assert_allclose(encode(texts[:1], runtime="onnxruntime"), onnx[:1], atol=1e-5)
    assert encode([], runtime="onnxruntime").shape == (0, full.shape[1])


@needs_onnxruntime
def test_onnxruntime_tokenizes_like_sentence_transformers() -> None:
    from finerouter.embed.onnx_encoder import load_onnx_encoder, tokenize

    texts = ["x", "  Leading spaces and Ünïcödé 🙂", "word " * 400]
    expected = sentence_transformer().preprocess(texts)
    encoder = load_onnx_encoder(encoder_path("minilm"), "float32", 1)
    got = tokenize(encoder.tokenizer, texts, encoder.max_seq_length)
    assert encoder.max_seq_length == 256 and got["input_ids"].shape == (3, 256)
    for name in encoder.inputs:
        np.testing.assert_array_equal(got[name], expected[name].numpy())


@needs_onnxruntime
def test_onnx_graph_is_exported_once_per_encoder_and_dtype() -> None:
    from pathlib import Path

    from finerouter.embed.onnx_encoder import build_graph, export_key

    model_dir = Path(encoder_path("minilm")).resolve()
    graph, settings = build_graph(model_dir, "float32")
    mtime = graph.stat().st_mtime_ns
    again, _ = build_graph(model_dir, "float32")
    assert again == graph and again.stat().st_mtime_ns == mtime  # a cache hit, not a second export
    assert settings == {"max_seq_length": 256, "inputs": ["input_ids", "attention_mask", "token_type_ids"], "dim": 384}
    assert export_key(model_dir, "float32") == export_key(Path(str(model_dir)), "float32")
    assert not [p for p in graph.parent.iterdir() if p.name.endswith(".tmp")]


@needs_onnxruntime
def test_export_key_follows_the_encoder_files(tmp_path) -> None:
    from finerouter.embed.onnx_encoder import export_key

    (tmp_path / "model.safetensors").write_bytes(b"weights v1")
    before = export_key(tmp_path, "float32")
    (tmp_path / "model.safetensors").write_bytes(b"weights v2, longer")
    assert export_key(tmp_path, "float32") != before


@needs_onnxruntime
def test_unwritable_onnx_cache_names_the_variable(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pathlib import Path

    from finerouter.embed.onnx_encoder import build_graph

    (tmp_path / "a-file").write_text("not a directory")
    monkeypatch.setenv("FINEROUTER_CACHE_DIR", str(tmp_path / "a-file" / "cache"))
    with pytest.raises(ConfigError, match=r"cannot write the ONNX encoder cache .*set FINEROUTER_CACHE_DIR"):
        build_graph(Path(encoder_path("minilm")).resolve())


@bf16_cpu
def test_bfloat16_embeddings_depend_on_their_batch_mates_float32_do_not() -> None:
    # Why the rebuild embeds in float32 unless embed.dtype says otherwise: in bfloat16 the bundle's encoder,
    # embedding a prompt alone, does not reproduce the vector the rebuild computed for it in a batch.
    texts = [*TEXTS, *(f"{t} (variant {i})" for i in range(6) for t in TEXTS)]
    for dtype, differs in (("float32", False), ("bfloat16", True)):
        alone = encode(texts[:2], dtype=dtype)
        in_batch = encode(texts, dtype=dtype)[:2]
        assert bool(np.abs(alone - in_batch).max() > 1e-5) is differs, dtype
