"""What the compiler's jobs share: loading a job file, reading other jobs' outputs, errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SCHEMA = 1


class JobFailed(Exception):
    """The job cannot do its work with these inputs; the message says what and where."""


class BadJobFile(Exception):
    """The job file is unreadable or malformed."""


def load_job(path: str, required: dict[str, tuple[str, ...]]) -> tuple[str, dict[str, Any]]:
    """(kind, config) of a job file, checking the schema version and that the kind's keys are there."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadJobFile(f"{path}: cannot read job file: {exc}") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise BadJobFile(f"{path}: field 'schema': expected {SCHEMA}")
    kind = data.get("kind")
    if kind not in required:
        raise BadJobFile(f"{path}: field 'kind': expected one of {', '.join(required)}, got {json.dumps(kind)}")
    missing = [k for k in required[kind] if k not in data]
    if missing:
        raise BadJobFile(f"{path}: field '{missing[0]}': missing")
    return kind, data


def read_json(path: str | Path, what: str) -> Any:
    """Another job's output; a missing or damaged one is a JobFailed naming the file."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise JobFailed(f"{path}: missing ({what}); has the job that writes it run?") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise JobFailed(f"{path}: unreadable ({what}): {exc}; rerun the job that writes it") from None
