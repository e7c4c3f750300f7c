"""Stage `import`: the configured source (or the simulated benchmark) into a validated routing table."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from finerouter.data.importers import ImportOptions, run_importer
from finerouter.data.synthetic import generate_synthetic
from finerouter.data.table import RoutingTable
from finerouter.generate.table import raw_table
from finerouter.pipeline.stage import Stage, StageContext

if TYPE_CHECKING:
    from finerouter.config import RebuildConfig

TABLE_DIR = "table"


def table_path(run_dir: Path) -> Path:
    return run_dir / ImportStage.name / TABLE_DIR


class ImportStage(Stage):
    name = "import"

    def __init__(self, config: RebuildConfig | None = None) -> None:
        if config is not None and config.data.format == "generated":
            self.inputs = ("score",)  # type: ignore[misc]  # the graded generations are this run's source

    def config_key(self, config: RebuildConfig) -> Any:
        data = config.data
        key = {"format": data.format, "split": data.split, "tokenizer": data.tokenizer}
        if data.format == "synthetic":
            key["synthetic"] = data.synthetic
        elif data.format != "generated":
            key["sources"] = [p.resolve() for p in data.sources]
            key["prices"] = data.prices.resolve() if data.prices else None
        return key

    def external_inputs(self, config: RebuildConfig) -> list[Path]:
        data = config.data
        if data.format in ("synthetic", "generated"):
            return []
        return [*data.sources, *([data.prices] if data.prices else [])]

    def run(self, ctx: StageContext) -> dict[str, Any]:
        data = ctx.config.data
        if data.format == "synthetic":
            ctx.log.info("generating the SIMULATED benchmark (%s prompts)", data.synthetic.n_prompts)
            raw = generate_synthetic(data.synthetic)
        elif data.format == "generated":
            raw = raw_table(ctx.input_dir("score"))
            raw.report.setdefault("format", "generated")
        else:
            options = ImportOptions(prices=data.prices, tokenizer=data.tokenizer)
            raw = run_importer(data.format, data.sources, options)
        table = RoutingTable.build(raw, data.split, origin=data.format)
        table.save(ctx.out_dir / TABLE_DIR)
        counts = table.manifest["counts"]
        ctx.log.info(
            "routing table: %s prompts, %s models, %s outcomes kept; %s rows rejected (see rejected.parquet)",
            counts["prompts"]["kept"],
            counts["models"]["kept"],
            counts["outcomes"]["kept"],
            len(table.rejected),
        )
        return {
            "counts": counts,
            "rejected": len(table.rejected),
            "split_report": table.manifest["split_report"],
        }
