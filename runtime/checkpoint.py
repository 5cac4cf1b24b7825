"""Training checkpoints: written whole or not at all, checked when read, the newest good one wins.

A checkpoint is a directory `<root>/step-NNNNNNNN/` holding `state.pt` (whatever the
train loop hands over: model, optimizer, sampler, RNG states, metrics so far) and
`meta.json` (step and the sha256 of `state.pt`), built beside its final path and
renamed into place (`mixc.atomic`). Reading verifies the checksum and the
unpickling (tensors and plain containers only, `weights_only`); a damaged
checkpoint is reported by file and the previous one is tried. This module knows
nothing about models or optimizers.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from mixc.atomic import atomic_directory

STATE, META = "state.pt", "meta.json"
_NAME = re.compile(r"step-(\d{8,})")


@dataclass(frozen=True)
class Loaded:
    step: int
    path: Path
    state: dict[str, Any]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save(root: Path, step: int, state: dict[str, Any], keep: int = 2) -> Path:
    """Write checkpoint `step` under `root`, then delete all but the newest `keep`."""
    final = Path(root) / f"step-{step:08d}"
    with atomic_directory(final) as tmp:
        torch.save(state, tmp / STATE)
        (tmp / META).write_text(json.dumps({"step": step, "sha256": _sha256(tmp / STATE)}) + "\n")
    for old in checkpoints(root)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def checkpoints(root: Path) -> list[Path]:
    """Checkpoint directories under `root`, oldest first (hidden temporaries are ignored)."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and _NAME.fullmatch(p.name)]
    return sorted(found, key=step_of)


def step_of(path: Path) -> int:
    """The step a checkpoint directory (one of `checkpoints`) holds, from its name."""
    return int(_NAME.fullmatch(Path(path).name).group(1))


class CheckpointError(Exception):
    """One checkpoint cannot be read; the message names the file."""


def read(path: Path) -> Loaded:
    """Read one checkpoint directory, verifying its checksum."""
    meta_path, state_path = path / META, path / STATE
    try:
        meta = json.loads(meta_path.read_text())
        step, sha = int(meta["step"]), str(meta["sha256"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise CheckpointError(f"{meta_path}: unreadable checkpoint record ({err})") from None
    try:
        actual = _sha256(state_path)
    except OSError as err:
        raise CheckpointError(f"{state_path}: cannot read ({err.strerror or err})") from None
    if actual != sha:
        raise CheckpointError(f"{state_path}: damaged or truncated (checksum differs from {meta_path.name})")
    try:
        state = torch.load(state_path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for a bad archive
        raise CheckpointError(f"{state_path}: cannot be loaded ({err})") from None
    return Loaded(step, path, state)


def latest(root: Path, say: Callable[[str], None]) -> Loaded | None:
    """The newest readable checkpoint under `root`, or None; damaged ones are reported
    through `say` along with what happens instead (an older checkpoint or a fresh start)."""
    found = checkpoints(root)
    for i in range(len(found) - 1, -1, -1):
        try:
            return read(found[i])
        except CheckpointError as err:
            fallback = f"falling back to {found[i - 1].name}" if i > 0 else "starting over from step 0"
            say(f"checkpoint error: {err}; {fallback}")
    return None
