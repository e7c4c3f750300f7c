"""The embedding batch stage: text column in, L2-normalised vectors out."""

from __future__ import annotations

import numpy as np

from finerouter.embed.encoder import DEFAULT_ENCODER, encode, load_encoder, resolve_device
from finerouter.pipeline.batch import BatchStage, Resources


class EmbedTexts(BatchStage):
    input_columns = ("text",)
    output_columns = ("embedding",)

    def __init__(
        self, encoder: str = DEFAULT_ENCODER, batch_size: int = 64, resources: Resources | None = None
    ) -> None:
        super().__init__(resources)
        self.encoder = encoder
        self.batch_size = batch_size
        self.device = "cpu"

    def setup(self) -> None:
        self.device = resolve_device(self.resources.num_gpus)
        load_encoder(self.encoder, self.device)

    def transform(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        texts = [str(t) for t in batch["text"]]
        return {"embedding": encode(texts, self.encoder, self.device, self.batch_size)}
