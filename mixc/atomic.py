"""Writing files and directories so that a reader sees the old contents or the new, never half.

Two tools, used by every layer (spec's formatter, the compiler's emitter and jobs, the
runtime's jobs):

- `write_text` / `write_json`: write a temporary sibling, then rename it over the path
  (an existing file keeps its permissions). A killed writer leaves only the hidden
  temporary file behind.
- `atomic_directory`: build a directory in a hidden sibling and rename it into place only
  when the caller's block finishes without error; whatever stood at the final path before
  is removed (a rerun rebuilds). A killed job leaves only a hidden `.NAME.tmp-*` directory,
  which no reader opens and the next run of the same job deletes. Completion markers
  (written last by the caller, inside the block) guard the one window where the old output
  is already gone.

Pure standard library: no numpy, no torch. This module decides nothing about what is written.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write `text` to `path` through a temporary sibling and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json(path: str | os.PathLike, value: Any) -> None:
    """`value` as indented JSON (NaN and infinity refused), written atomically."""
    write_text(path, json.dumps(value, indent=1, allow_nan=False) + "\n")


@contextmanager
def atomic_directory(final: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary directory that becomes `final` when the block succeeds."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    for stale in final.parent.glob(f".{final.name}.tmp-*"):  # left by a killed earlier run
        shutil.rmtree(stale, ignore_errors=True)
    tmp = final.parent / f".{final.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        yield tmp
        if final.exists() or final.is_symlink():
            old = final.parent / f".{final.name}.tmp-old-{uuid.uuid4().hex[:8]}"
            os.replace(final, old)
            shutil.rmtree(old, ignore_errors=True)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
