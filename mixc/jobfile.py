"""Job files: the one contract between the side that writes a job and the side that runs it.

A job file is plain JSON, fully resolved (every field present; `null` where a field does
not apply) and versioned:

    {"schema": 1, "kind": "tokenize", ...the kind's fields...}

Each kind is one frozen dataclass in `mixc.jobs`: its fields and their types ARE the schema,
checks beyond types live in its `__post_init__` (raising `FieldError`). The compiler builds
those objects and writes them with `dumps`; a worker reads them back with `load`, through the
same dataclass, so the two sides cannot drift apart. Which fields enter a job's content hash
is explicit: every field does unless declared with `unhashed()` (fields that only serve
messages, or that are derived from the hash itself, like the output folder).

`main` is the whole `__main__` of both sides (`python -m mixc.runtime`, `python -m
mixc.compiler.jobs`); each side passes its own table of kinds, naming the function that
runs each one as "module:function", imported only when a file asks for that kind.

Errors: `JobFileError` (the file itself is wrong: exit 2), `JobError` (the job cannot run
on its input: exit 1; the message names what and where). Bugs keep their traceback.
Pure standard library: no numpy, no torch, nothing from spec/compiler/runtime.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal

SCHEMA = 1
HASH = "mixc.hash"  # dataclass field metadata key: False keeps a field out of the job's hash


class JobFileError(Exception):
    """The job file itself is wrong (unreadable, not JSON, wrong schema, a bad field)."""


class JobError(Exception):
    """A job cannot run on the input it was given; the message says what and where."""


class FieldError(ValueError):
    """Raised by a config's `__post_init__`: `field` is the field's name inside that config."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def unhashed(**kwargs: Any) -> Any:
    """A dataclass field that stays out of the job's content hash (`dataclasses.field` arguments)."""
    return dataclasses.field(metadata={HASH: False}, **kwargs)


@dataclass(frozen=True)
class Kind:
    """A job kind as one side runs it: its config dataclass and its runner, "module:function"."""

    config: type
    run: str


@dataclass(frozen=True)
class Job:
    """A loaded job: its kind, its typed config, and where the function that runs it lives."""

    kind: str
    config: Any
    runner: str  # "module:function"; imported only when the job runs

    @property
    def run(self) -> Callable[[Any], None]:
        module, _, function = self.runner.partition(":")
        return getattr(importlib.import_module(module), function)


# ---- reading -------------------------------------------------------------------------


def load(path: str | Path, kinds: dict[str, Kind]) -> Job:
    """Read and check a job file. Raises `JobFileError` naming the file and the field."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise JobFileError(f"{path}: cannot read job file: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise JobFileError(f"{path}: not UTF-8 at byte {exc.start}") from None
    except json.JSONDecodeError as exc:
        raise JobFileError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None
    return parse(data, kinds, where=str(path))


def parse(data: Any, kinds: dict[str, Kind], where: str = "job") -> Job:
    """Check already-decoded JSON (`where` names it in errors) and return the job."""
    if not isinstance(data, dict):
        raise JobFileError(f"{where}: a job file must be a JSON object")
    schema = data.get("schema")
    if schema != SCHEMA:
        raise JobFileError(f"{where}: field 'schema': expected {SCHEMA}, got {json.dumps(schema)}")
    kind_name = data.get("kind")
    if kind_name not in kinds:
        known = ", ".join(sorted(kinds))
        raise JobFileError(f"{where}: field 'kind': expected one of {known}, got {json.dumps(kind_name)}")
    kind = kinds[kind_name]
    body = {k: v for k, v in data.items() if k not in ("schema", "kind")}
    config = from_json(kind.config, body, where, "")
    return Job(kind=kind_name, config=config, runner=kind.run)


def from_json(cls: type, value: Any, where: str, path: str) -> Any:
    """Build dataclass `cls` from JSON `value`; `path` is the dotted field path used in errors."""
    if not isinstance(value, dict):
        _fail(where, path, f"expected an object, got {_kind_of(value)}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(value) - set(names))
    if unknown:
        _fail(where, _join(path, unknown[0]), "unknown field" + _suggest(unknown[0], names))
    missing = [n for n in names if n not in value]
    if missing:
        _fail(where, _join(path, missing[0]), "missing (job files are fully resolved: write null if it does not apply)")
    kwargs = {n: _convert(hints[n], value[n], where, _join(path, n)) for n in names}
    try:
        return cls(**kwargs)
    except FieldError as exc:
        _fail(where, _join(path, exc.field), str(exc))


def _convert(tp: Any, value: Any, where: str, path: str) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        if len(options) != 1:  # the schema keeps unions to "X | None"
            raise TypeError(f"unsupported union in a job schema: {tp}")
        return _convert(options[0], value, where, path)
    if origin is Literal:
        if value not in args:
            _fail(where, path, f"expected one of {', '.join(json.dumps(a) for a in args)}, got {json.dumps(value)}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, list):
            _fail(where, path, f"expected a list, got {_kind_of(value)}")
        items = [_convert(args[0], v, where, f"{path}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            _fail(where, path, f"expected an object, got {_kind_of(value)}")
        return {k: _convert(args[1], v, where, _join(path, k)) for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        return from_json(tp, value, where, path)
    if tp is bool:
        if not isinstance(value, bool):
            _fail(where, path, f"expected true or false, got {_kind_of(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            _fail(where, path, f"expected an integer, got {_kind_of(value)}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            _fail(where, path, f"expected a finite number, got {_kind_of(value)}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            _fail(where, path, f"expected a string, got {_kind_of(value)}")
        return value
    raise TypeError(f"unsupported type in a job schema: {tp}")


def _fail(where: str, path: str, message: str) -> typing.NoReturn:
    raise JobFileError(f"{where}: field '{path}': {message}")


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _kind_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string {json.dumps(value)}"
    return "a list" if isinstance(value, list) else "an object"


def _suggest(name: str, names: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, names, n=1)
    return f" (did you mean '{close[0]}'?)" if close else f" (known: {', '.join(names)})"


# ---- writing and hashing -------------------------------------------------------------


def to_json(value: Any, hashed_only: bool = False) -> Any:
    """The JSON form of a config (dataclasses become objects, tuples lists). `hashed_only`
    leaves out the fields declared `unhashed()`, at every depth: what a job's hash covers."""
    if dataclasses.is_dataclass(value):
        return {f.name: to_json(getattr(value, f.name), hashed_only) for f in dataclasses.fields(value)
                if not hashed_only or f.metadata.get(HASH, True)}
    if isinstance(value, (list, tuple)):
        return [to_json(v, hashed_only) for v in value]
    if isinstance(value, dict):
        return {k: to_json(v, hashed_only) for k, v in value.items()}
    return value


def dumps(kind: str, config: Any) -> str:
    """The job file's text. No indentation: json's C encoder only runs without it, and
    large sweeps write thousands of files."""
    return json.dumps({"schema": SCHEMA, "kind": kind, **to_json(config)}, sort_keys=True, allow_nan=False) + "\n"


# ---- the entry point of both sides ---------------------------------------------------


def main(argv: list[str], kinds: dict[str, Kind], prog: str, layer: str) -> int:
    """Load one job file and run it: exit 0 done, 1 the job failed on its input, 2 the job
    file or the command line is wrong, or the install lacks the side's layer (`layer`, an
    extra of `mixc.layers`). User errors never print a traceback."""
    import sys

    if len(argv) != 1 or argv[0] in ("-h", "--help"):
        print(f"usage: {prog} JOBFILE", file=sys.stderr)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    try:
        job = load(argv[0], kinds)
    except JobFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        job.run(job.config)
    except JobError as exc:
        print(f"error: {job.kind} job {argv[0]}: {exc}", file=sys.stderr)
        return 1
    except ModuleNotFoundError as exc:
        from mixc.layers import explain

        line = explain(prog, exc, layer)
        if line is None:
            raise
        print(f"error: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"error: {job.kind} job {argv[0]}: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # the machine's, not the job's: a path in the way, a full disk, no permission
        print(f"error: {job.kind} job {argv[0]}: {os_problem(exc)}", file=sys.stderr)
        return 1
    return 0


def os_problem(exc: OSError) -> str:
    """An OSError in words: what failed, on which path (relative ones are to the job's
    working directory, the work directory), and what usually fixes it."""
    import errno
    import os

    where = f" on {os.path.abspath(exc.filename)}" if exc.filename else ""
    why = exc.strerror or str(exc)
    fix = {errno.ENOTDIR: "a file stands where a folder is needed: move it away",
           errno.EISDIR: "a folder stands where a file is needed: move it away",
           errno.ENOSPC: "the disk is full: free space",
           errno.EACCES: "no permission: fix the folder's owner or mode"}.get(exc.errno or 0)
    return f"{why}{where}" + (f" ({fix}, then rerun)" if fix else "")
