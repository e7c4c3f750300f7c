"""Column schemas of the routing table (docs/data.md describes them for users)."""

from __future__ import annotations

import pyarrow as pa

SPLITS: tuple[str, ...] = ("train", "dev", "test")

PROMPTS_SCHEMA = pa.schema(
    [
        pa.field("prompt_id", pa.string(), nullable=False),
        pa.field("prompt", pa.string(), nullable=False),
        pa.field("source", pa.string()),  # benchmark or fine task label, e.g. "gsm8k"
        pa.field("category", pa.string()),  # optional coarser label, e.g. MMLU-Pro's category
        pa.field("split", pa.string()),  # train / dev / test
    ]
)

MODELS_SCHEMA = pa.schema(
    [
        pa.field("model", pa.string(), nullable=False),
        pa.field("input_price", pa.float64()),  # USD per 1M input tokens
        pa.field("output_price", pa.float64()),  # USD per 1M output tokens
    ]
)

OUTCOMES_SCHEMA = pa.schema(
    [
        pa.field("prompt_id", pa.string(), nullable=False),
        pa.field("model", pa.string(), nullable=False),
        pa.field("quality", pa.float64(), nullable=False),  # in [0, 1]
        pa.field("cost", pa.float64()),  # USD for this call
        pa.field("response", pa.string()),
        pa.field("input_tokens", pa.int64()),
        pa.field("output_tokens", pa.int64()),
    ]
)

REJECTED_SCHEMA = pa.schema(
    [
        pa.field("table", pa.string(), nullable=False),  # prompts / models / outcomes / source
        pa.field("reason", pa.string(), nullable=False),
        pa.field("record", pa.string(), nullable=False),  # the offending record as JSON
    ]
)

SCHEMAS: dict[str, pa.Schema] = {
    "prompts": PROMPTS_SCHEMA,
    "models": MODELS_SCHEMA,
    "outcomes": OUTCOMES_SCHEMA,
    "rejected": REJECTED_SCHEMA,
}
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "prompts": ("prompt_id", "prompt"),
    "models": ("model",),
    "outcomes": ("prompt_id", "model", "quality"),
}
TABLE_FILES: dict[str, str] = {name: f"{name}.parquet" for name in SCHEMAS}
MANIFEST_FILE = "manifest.json"
FORMAT_VERSION = 1
