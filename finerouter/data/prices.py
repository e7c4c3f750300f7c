"""Price tables: a user-supplied YAML of USD per 1M input/output tokens per model."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml
from pydantic import ConfigDict, Field, ValidationError

from finerouter.config_model import ConfigModel
from finerouter.errors import DataError


class ModelPrice(ConfigModel):
    model_config = ConfigDict(extra="forbid")

    input_price: float = Field(ge=0, description="USD per 1M input tokens")
    output_price: float = Field(ge=0, description="USD per 1M output tokens")


class PriceTable(ConfigModel):
    """`{model: {input_price: x, output_price: y}}`, optionally under a top-level `models:` key."""

    prices: dict[str, ModelPrice]

    @classmethod
    def load(cls, path: str | Path) -> PriceTable:
        file = Path(path)
        if not file.is_file():
            raise DataError(f"price table {str(file)!r} does not exist")
        try:
            data = yaml.safe_load(file.read_text())
        except yaml.YAMLError as exc:
            raise DataError(f"price table {str(file)!r} is not valid YAML: {exc}") from exc
        if isinstance(data, dict) and set(data) == {"models"}:
            data = data["models"]
        if not isinstance(data, dict) or not data:
            raise DataError(f"price table {str(file)!r} must map model names to {{input_price, output_price}}")
        try:
            return cls(prices=data)
        except ValidationError as exc:
            raise DataError(f"price table {str(file)!r} is invalid: {exc}") from exc

    def require(self, models: list[str]) -> None:
        """Fail naming every model the table lacks: partial prices would make cost comparisons wrong."""
        missing = sorted(set(models) - set(self.prices))
        if missing:
            raise DataError(
                f"price table has no entry for model(s) {missing}; it lists {sorted(self.prices)}. "
                "Add them (USD per 1M input and output tokens)."
            )

    def call_cost(self, model: str, input_tokens: pd.Series, output_tokens: pd.Series) -> pd.Series:
        price = self.prices[model]
        return (input_tokens * price.input_price + output_tokens * price.output_price) / 1e6

    def models_frame(self, models: list[str]) -> pd.DataFrame:
        self.require(models)
        return pd.DataFrame(
            {
                "model": models,
                "input_price": [self.prices[m].input_price for m in models],
                "output_price": [self.prices[m].output_price for m in models],
            }
        )


def unpriced_models_frame(models: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"model": models, "input_price": None, "output_price": None})
