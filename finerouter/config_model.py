"""The base of every configuration model: unknown keys, booleans given for numbers and inf / nan are refused."""

from __future__ import annotations

from collections.abc import Sequence
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, model_validator

_NUMBERS = (int, float)


class ConfigModel(BaseModel):
    """Typed configuration: `extra="forbid"`, no inf / nan in float fields, and no `true` read as 1.

    Pydantic's lax mode reads a boolean as the number 1 or 0 (`knn.k: true` would mean k = 1); a YAML typo like
    that is refused here for every int and float field, also inside lists, tuples and mappings. Strings stay
    accepted where pydantic accepts them (paths, numbers written as text)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _no_boolean_numbers(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        for name, field in cls.model_fields.items():
            key = field.alias or name
            where = boolean_number_path(data[key], field.annotation) if key in data else None
            if where is not None:
                raise ValueError(f"{key}{where} is a boolean (true/false) where a number is expected: write the number")
        return data


def boolean_number_path(value: Any, annotation: Any) -> str | None:
    """Where `value` holds a boolean that `annotation` would read as a number ('' for the value itself), or None."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return boolean_number_path(value, args[0])
    if origin in (Union, UnionType):
        if isinstance(value, bool):
            leaves = [_unwrap(a) for a in args]
            return "" if any(a in _NUMBERS for a in leaves) and bool not in leaves else None
        found = (boolean_number_path(value, arg) for arg in args)
        return next((f for f in found if f is not None), None)
    if isinstance(value, bool):
        return "" if annotation in _NUMBERS else None
    if isinstance(value, dict) and origin is dict and len(args) == 2:
        for key, item in value.items():
            found = boolean_number_path(item, args[1])
            if found is not None:
                return f"[{key!r}]{found}"
    if isinstance(value, list | tuple) and origin in (list, tuple, set, frozenset, Sequence) and args:
        for i, item in enumerate(value):
            found = boolean_number_path(item, _item_type(origin, args, i))
            if found is not None:
                return f"[{i}]{found}"
    return None


def _unwrap(annotation: Any) -> Any:
    return get_args(annotation)[0] if get_origin(annotation) is Annotated else annotation


def _item_type(origin: Any, args: tuple[Any, ...], index: int) -> Any:
    if origin is not tuple or (len(args) == 2 and args[1] is Ellipsis):
        return args[0]
    return args[index] if index < len(args) else Any
