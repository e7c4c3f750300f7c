"""Publishing a completed stage output (the router bundle) to a versioned location.

`<root>/<version>/` holds an immutable copy; `<root>/LATEST` names the newest version. The version is
`<run>-<content hash>`, so publishing the same bundle twice is a no-op and two different bundles never share a
directory. Readers (the Serve app) load `<root>/<LATEST>`; the copy is renamed into place and LATEST replaced
atomically, so a reader never sees half a bundle.

Not wired into the rebuild yet: the `bundle` stage (issue 5) and the Serve app's reload (issue 7) are not on
this branch. A `publish` stage after `bundle` calls `publish(run_dir / "bundle", root, run)`.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from finerouter.errors import FineRouterError
from finerouter.pipeline.stage import MARKER_FILE, read_marker

LATEST = "LATEST"


def bundle_version(stage_dir: Path, run: str) -> str:
    marker = read_marker(stage_dir)
    if marker is None:
        raise FineRouterError(f"{str(stage_dir)!r} is not a completed stage output (no readable {MARKER_FILE})")
    return f"{run}-{marker['output_fingerprint'][:12]}"


def publish(stage_dir: Path, root: Path, run: str) -> Path:
    """Copy `stage_dir` to `root/<version>/` (unless already there) and point `root/LATEST` at it."""
    version = bundle_version(stage_dir, run)
    target = root / version
    root.mkdir(parents=True, exist_ok=True)
    if not target.is_dir():
        scratch = root / f".{version}.tmp-{os.getpid()}"
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.copytree(stage_dir, scratch)
        scratch.rename(target)
    pointer = root / f".{LATEST}.tmp-{os.getpid()}"
    pointer.write_text(version + "\n")
    os.replace(pointer, root / LATEST)
    return target


def latest(root: Path) -> Path:
    """The directory of the newest published version under `root`."""
    pointer = root / LATEST
    if not pointer.is_file():
        raise FineRouterError(f"nothing published under {str(root)!r} (no {LATEST} file)")
    target = root / pointer.read_text().strip()
    if not target.is_dir():
        raise FineRouterError(f"{str(pointer)!r} names {target.name!r}, which is not under {str(root)!r}")
    return target
