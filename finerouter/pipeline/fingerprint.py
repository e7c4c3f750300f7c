"""Stable fingerprints of configuration values and files, for deciding whether a stage must rerun."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel


def fingerprint_value(value: Any) -> str:
    """sha256 of a canonical JSON rendering (pydantic models, paths and sets included)."""
    return hashlib.sha256(json.dumps(_canonical(value), sort_keys=True, default=str).encode()).hexdigest()


def fingerprint_tree(root: Path, content: bool = True) -> str:
    """Hash of every file below `root` (or `root` itself): relative path plus content, or size and mtime.

    Content hashing is used for a stage's own outputs; source files (possibly many GB) are
    fingerprinted by size and modification time, as make and ninja do.
    """
    digest = hashlib.sha256()
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    for path in files:
        rel = path.name if path == root else path.relative_to(root).as_posix()
        digest.update(rel.encode() + b"\0")
        if content:
            with path.open("rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
        else:
            stat = path.stat()
            digest.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
        digest.update(b"\0")
    return digest.hexdigest()


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
