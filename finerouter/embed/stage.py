"""The embedding batch stage: text column in, L2-normalised vectors out."""

from __future__ import annotations

import numpy as np

from finerouter.batch import BatchStage, Resources
from finerouter.embed.encoder import DEFAULT_ENCODER, encode, load_encoder, resolve_device
from finerouter.embed.hardware import torch_threads

CPU_SHAPE_CACHE = 64  # cached kernels per library in an encoder actor on CPU (see EmbedTexts.worker_env)


class EmbedTexts(BatchStage):
    """One encoder per actor, on as many torch threads as the actor holds CPUs (Ray sets OMP_NUM_THREADS only
    when it is unset; torch's own default is every core of the node, which oversubscribes a pool of actors)."""

    input_columns = ("text",)
    output_columns = ("embedding",)

    def __init__(
        self,
        encoder: str = DEFAULT_ENCODER,
        batch_size: int = 64,
        resources: Resources | None = None,
        dtype: str = "float32",
        runtime: str = "torch",
    ) -> None:
        super().__init__(resources)
        self.encoder = encoder
        self.batch_size = batch_size
        self.dtype = dtype
        self.runtime = runtime
        self.device = "cpu"
        self.threads = torch_threads(self.resources.num_cpus)

    def worker_env(self) -> dict[str, str]:
        """On CPU, small shape caches for oneDNN (its primitives) and ideep (PyTorch's oneDNN bindings). Each
        packed batch has its own token count, so the default caches (1,024 entries each) filled with kernels used
        once and grew every encoder actor by ~1.2 GiB over 36,000 texts. 64 entries bound that at the stage's speed
        (12,616 texts: 63.6 s vs 63.7 s with the default caches; docs/benchmarks.md, "The whole rebuild at scale")."""
        if self.runtime != "torch" or self.resources.num_gpus > 0:
            return {}
        return {"ONEDNN_PRIMITIVE_CACHE_CAPACITY": str(CPU_SHAPE_CACHE), "LRU_CACHE_CAPACITY": str(CPU_SHAPE_CACHE)}

    def setup(self) -> None:
        import torch

        torch.set_num_threads(self.threads)
        self.device = resolve_device(self.resources.num_gpus)
        if self.runtime == "torch":
            load_encoder(self.encoder, self.device, self.dtype)
        else:  # loads (and on first use exports) the ONNX graph
            encode(["warm-up"], self.encoder, self.device, self.batch_size, self.dtype, self.runtime)

    def transform(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        texts = [str(t) for t in batch["text"]]
        return {"embedding": encode(texts, self.encoder, self.device, self.batch_size, self.dtype, self.runtime)}
