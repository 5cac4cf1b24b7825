"""Reading what other jobs wrote: a missing or damaged output is a `JobError` naming the file.

Used by the compiler's jobs (design, fit, solve, report) and by `mixc report`. Reads only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mixc.jobfile import JobError


def read_json(path: str | Path, what: str) -> Any:
    """Another job's output; a missing or damaged one is a JobError naming the file."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise JobError(f"{path}: missing ({what}); has the job that writes it run?") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise JobError(f"{path}: unreadable ({what}): {exc}; rerun the job that writes it") from None
