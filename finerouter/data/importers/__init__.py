"""Importers turn public routing-data formats into a RawTable; RoutingTable.build validates it.

Each importer is `import_<format>(sources: list[Path], options: ImportOptions) -> RawTable`.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from pathlib import Path

from pydantic import ConfigDict

from finerouter.config_model import ConfigModel
from finerouter.data.table import RawTable
from finerouter.errors import DataError


class ImportOptions(ConfigModel):
    model_config = ConfigDict(extra="forbid")

    prices: Path | None = None  # price-table YAML (USD per 1M tokens)
    tokenizer: str = "minilm"  # "minilm" (offline, bundled) or a local Hugging Face tokenizer directory


Importer = Callable[[list[Path], ImportOptions], RawTable]

# format name -> "module:function", imported only when used
FORMATS: dict[str, str] = {
    "llmrouter": "finerouter.data.importers.llmrouter:import_llmrouter",
    "dcrouter-json": "finerouter.data.importers.dcrouter_json:import_dcrouter_json",
    "mmlu-pro": "finerouter.data.importers.mmlu_pro:import_mmlu_pro",
    "routerbench": "finerouter.data.importers.routerbench:import_routerbench",
    "zeroeval": "finerouter.data.importers.zeroeval:import_zeroeval",
}


def get_importer(fmt: str) -> Importer:
    if fmt not in FORMATS:
        raise DataError(f"unknown import format {fmt!r}; valid formats: {', '.join(sorted(FORMATS))}")
    module, func = FORMATS[fmt].split(":")
    return getattr(import_module(module), func)


def run_importer(fmt: str, sources: list[str | Path], options: ImportOptions | None = None) -> RawTable:
    paths = [Path(s) for s in sources]
    if not paths:
        raise DataError(f"import {fmt}: no source paths given")
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise DataError(f"import {fmt}: source path(s) not found: {missing}")
    raw = get_importer(fmt)(paths, options or ImportOptions())
    if raw.prompts.empty and raw.outcomes.empty:
        raise DataError(f"import {fmt}: no records found in {[str(p) for p in paths]}")
    raw.report.setdefault("format", fmt)
    raw.report.setdefault("sources", [str(p) for p in paths])
    return raw
