"""Stable fingerprints of configuration values and files: a stage reruns, and a cached result is reused, by them."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

# Top-level files of a stage's output named `_*` record how the output was made (the completion marker, timings),
# not what it is: the output fingerprint leaves them out, so identical runs give identical fingerprints.
RECORD_PREFIX = "_"
TIMINGS_FILE = f"{RECORD_PREFIX}timings.json"  # how long the parts of a stage took


def fingerprint_value(value: Any) -> str:
    """sha256 of a canonical JSON rendering (pydantic models, paths and sets included)."""
    return hashlib.sha256(json.dumps(_canonical(value), sort_keys=True, default=str).encode()).hexdigest()


def fingerprint_tree(root: Path, content: bool = True) -> str:
    """Hash of every file below `root` (or `root` itself): relative path plus content, or size and mtime.

    Content hashing is used for a stage's own outputs; source files (possibly many GB) are
    fingerprinted by size and modification time, as make and ninja do.
    """
    return _fingerprint_files(root, content)


def fingerprint_outputs(root: Path, recorded_fields: Mapping[str, Collection[str]] | None = None) -> str:
    """Content hash of a stage's output directory without its run records: top-level files named `_*` (the
    completion marker, timings) and, in the JSON files `recorded_fields` names, the listed top-level fields."""
    return _fingerprint_files(root, True, skip_records=True, recorded_fields=recorded_fields or {})


def _fingerprint_files(
    root: Path,
    content: bool,
    skip_records: bool = False,
    recorded_fields: Mapping[str, Collection[str]] | None = None,
) -> str:
    digest = hashlib.sha256()
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    for path in files:
        rel = path.name if path == root else path.relative_to(root).as_posix()
        if skip_records and "/" not in rel and rel.startswith(RECORD_PREFIX):
            continue
        digest.update(rel.encode() + b"\0")
        if recorded_fields and rel in recorded_fields:
            digest.update(_json_without(path, recorded_fields[rel]))
        elif content:
            with path.open("rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
        else:
            stat = path.stat()
            digest.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
        digest.update(b"\0")
    return digest.hexdigest()


def _json_without(path: Path, fields: Collection[str]) -> bytes:
    try:
        value = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} is declared a JSON output with recorded fields but is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise ValueError(f"{path} is declared a JSON output with recorded fields but holds a {type(value).__name__}")
    kept = {k: v for k, v in value.items() if k not in fields}
    return json.dumps(kept, sort_keys=True).encode()


def _canonical(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return _canonical(value.model_dump(mode="json"))
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(_canonical(v) for v in value)
    if isinstance(value, Path):
        return value.as_posix()
    return value
