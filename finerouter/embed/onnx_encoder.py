"""The prompt encoder on ONNX Runtime: the sentence-transformers model exported from its local weights at load time.

The whole model (transformer, pooling, normalisation) is traced once into an ONNX graph and cached on disk, keyed
by the encoder directory's files and the versions that shape the export, so that replicas on one node export it
once; a replica writes to a temporary file and renames it, so concurrent exports never expose a partial file.
Tokenisation is the model's own tokenizer with sentence-transformers' settings (padding, longest-first
truncation at `max_seq_length`), checked against sentence-transformers' preprocessing when the graph is built.
float32 only: ONNX Runtime's CPU kernels have no bfloat16, and its dynamic int8 quantisation (per channel) changed
the chosen model on 4% of real test prompts (docs/benchmarks.md, "Prompt encoder runtimes").
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from finerouter.embed.batching import length_buckets
from finerouter.embed.options import check_encoder_options
from finerouter.errors import ConfigError, MissingDependencyError

INSTALL_HINT = 'pip install "finerouter[onnx]"  (or: pip install onnx onnxruntime)'
EXPORT_FORMAT = 1  # bump when the export below changes what it writes
OPSET = 17
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
SUPPORTED_MODULES = ("Transformer", "Pooling", "Normalize")
PROBES = ["x", "  Leading and trailing spaces.  ", "Ünïcödé, emoji 🙂 and\ttabs", "long " * 400]


def cache_root() -> Path:
    """$FINEROUTER_CACHE_DIR, else $XDG_CACHE_HOME/finerouter, else ~/.cache/finerouter; graphs go in `onnx/`."""
    root = os.environ.get("FINEROUTER_CACHE_DIR")
    if not root:
        root = str(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "finerouter")
    return Path(root).expanduser() / "onnx"


def require_onnxruntime() -> Any:
    """onnxruntime (running the graph) and onnx (exporting it), or a MissingDependencyError naming the install."""
    try:
        import onnxruntime
    except ImportError as exc:
        raise MissingDependencyError("onnxruntime", "encoder_runtime onnxruntime", INSTALL_HINT) from exc
    try:
        import onnx  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError("onnx", "encoder_runtime onnxruntime", INSTALL_HINT) from exc
    return onnxruntime


def _versions() -> dict[str, str]:
    names = ("torch", "transformers", "sentence-transformers", "onnx", "onnxruntime")
    return {name: metadata.version(name) for name in names}


def export_key(model_dir: Path, dtype: str) -> str:
    """Changes with the encoder's files (path, size, mtime), the export code and the libraries that shape it."""
    files = sorted(p for p in model_dir.rglob("*") if p.is_file() and ".git" not in p.parts)
    stats = [(str(p.relative_to(model_dir)), p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    content = {"dir": str(model_dir), "files": stats, "versions": _versions(), "format": EXPORT_FORMAT, "dtype": dtype}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:24]


def _atomic_write(dest: Path, write: Callable[[Path], object]) -> None:
    """`write(tmp_path)`, then rename over `dest`: readers see the old file, no file, or the whole new one."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o644)  # mkstemp makes it private; replicas under other users read the cache too
        os.replace(tmp, dest)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _tokenizer_settings(model: Any, model_dir: Path) -> dict[str, Any]:
    """The runtime tokenizer's settings, refused unless it reproduces sentence-transformers' preprocessing."""
    kinds = [type(m).__name__ for m in model]
    if kinds[:2] != list(SUPPORTED_MODULES[:2]) or any(k not in SUPPORTED_MODULES for k in kinds):
        raise ConfigError(
            f"encoder_runtime onnxruntime supports sentence-transformers models made of {', '.join(SUPPORTED_MODULES)}"
            f"; this encoder has {', '.join(kinds)}: use encoder_runtime torch"
        )
    from transformers import AutoTokenizer

    settings: dict[str, Any] = {"max_seq_length": int(model.max_seq_length)}
    expected = model.preprocess(PROBES)
    got = tokenize(AutoTokenizer.from_pretrained(model_dir), PROBES, settings["max_seq_length"])
    if any(not np.array_equal(expected[k].numpy(), got[k]) for k in INPUTS if k in expected):
        raise ConfigError("this encoder preprocesses text beyond its tokenizer; use encoder_runtime torch")
    settings["inputs"] = [k for k in INPUTS if k in expected]
    settings["dim"] = int(model(expected)["sentence_embedding"].shape[1])
    return settings


def _verify(graph: Path, reference: np.ndarray, features: dict[str, np.ndarray], inputs: list[str]) -> None:
    """The traced graph must embed the probes (padded, one truncated) as torch does, or it is not cached."""
    ort = require_onnxruntime()
    session = ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
    got = session.run(["embedding"], {name: features[name] for name in inputs})[0]
    cosine = (got * reference).sum(axis=1) / np.linalg.norm(got, axis=1) / np.linalg.norm(reference, axis=1)
    if cosine.min() < 0.9999:
        raise ConfigError(
            f"the ONNX export of this encoder disagrees with torch (cosine {cosine.min():.5f} on a probe text); "
            "use encoder_runtime torch"
        )


def export_float32(model_dir: Path, graph: Path) -> dict[str, Any]:
    """Trace the sentence-transformers model (eager attention, which ONNX Runtime fuses) into `graph`."""
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_dir), device="cpu", model_kwargs={"attn_implementation": "eager"}).eval()
    with torch.no_grad():
        settings = _tokenizer_settings(model, model_dir)
    inputs = settings["inputs"]

    class Embed(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
            return self.model(dict(zip(inputs, tensors, strict=True)))["sentence_embedding"]

    example = model.preprocess(["an example prompt", "two"])
    probes = model.preprocess(PROBES)
    with torch.no_grad():
        reference = model(probes)["sentence_embedding"].numpy()
    axes = {name: {0: "batch", 1: "sequence"} for name in inputs} | {"embedding": {0: "batch"}}

    def export(tmp: Path) -> None:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer warnings about shape-dependent branches that hold for any shape
            torch.onnx.export(
                Embed().eval(), tuple(example[n] for n in inputs), str(tmp), input_names=inputs,
                output_names=["embedding"], dynamic_axes=axes, opset_version=OPSET, dynamo=False,
            )  # fmt: skip
        _verify(tmp, reference, {name: probes[name].numpy() for name in inputs}, inputs)

    _atomic_write(graph, export)
    return settings


def build_graph(model_dir: Path, dtype: str = "float32") -> tuple[Path, dict[str, Any]]:
    """The cached graph of `model_dir` and its tokenizer settings, exported on a cache miss."""
    directory = cache_root() / export_key(model_dir, dtype)
    graph, meta_path = directory / "model.onnx", directory / "settings.json"
    if not (graph.is_file() and meta_path.is_file()):
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"cannot write the ONNX encoder cache {directory} ({exc}); set FINEROUTER_CACHE_DIR to a writable "
                "directory"
            ) from exc
        settings = export_float32(model_dir, graph)
        _atomic_write(meta_path, lambda tmp: tmp.write_text(json.dumps(settings)))
    return graph, json.loads(meta_path.read_text())


def tokenize(tokenizer: Any, texts: list[str], max_seq_length: int) -> dict[str, np.ndarray]:
    return dict(
        tokenizer(texts, padding=True, truncation="longest_first", max_length=max_seq_length, return_tensors="np")
    )


@dataclass
class OnnxEncoder:
    session: Any
    tokenizer: Any
    max_seq_length: int
    inputs: list[str]
    graph: Path
    dim: int

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        for rows in length_buckets(texts, batch_size):
            features = tokenize(self.tokenizer, [texts[i] for i in rows], self.max_seq_length)
            feed = {name: features[name].astype(np.int64) for name in self.inputs}
            vectors[rows] = self.session.run(["embedding"], feed)[0]
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def open_encoder(graph: Path, model_dir: Path, settings: dict[str, Any], threads: int = 1) -> OnnxEncoder:
    """An ONNX Runtime session (CPU, `threads` intra-op threads) on `graph`, with the tokenizer of `model_dir`."""
    ort = require_onnxruntime()
    from transformers import AutoTokenizer

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, threads)
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    return OnnxEncoder(session, tokenizer, settings["max_seq_length"], settings["inputs"], graph, settings["dim"])


@lru_cache(maxsize=4)
def load_onnx_encoder(model_dir: str, dtype: str = "float32", threads: int = 1) -> OnnxEncoder:
    """The encoder at `model_dir` on ONNX Runtime, its graph exported (or found in the cache) first."""
    check_encoder_options(dtype, "onnxruntime")
    require_onnxruntime()
    directory = Path(model_dir).expanduser().resolve()
    if not directory.is_dir():
        raise ConfigError(f"encoder_runtime onnxruntime needs a local encoder directory; {model_dir} is not one")
    graph, settings = build_graph(directory, dtype)
    return open_encoder(graph, directory, settings, threads)
