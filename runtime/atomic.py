"""Writing a whole directory so that readers see all of it or none of it.

The output is built in a hidden sibling directory and renamed into place only after the
caller's block finishes without error; whatever stood at the final path before is removed
(a rerun rebuilds). A killed job leaves only a hidden `.NAME.tmp-*` directory, which no
reader opens and the next run of the same job deletes. Completion markers (written last by
the caller, inside the block) guard the one window where the old output is already gone.
"""

from __future__ import annotations

import os
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def atomic_directory(final: str | Path) -> Iterator[Path]:
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
