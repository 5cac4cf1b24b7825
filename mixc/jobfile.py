"""Job files: load one JSON file, check it against its kind's schema, return a typed config.

A job file is the only contract between the compiler and the runtime. It is plain JSON,
fully resolved (every field present; `null` where a field does not apply) and versioned:

    {"schema": 1, "kind": "tokenize", ...the kind's fields...}

Each kind is one frozen dataclass (its fields and their types ARE the schema) plus a `run`
function, registered in `KINDS`. Adding a kind is a dataclass, a `run(config)`, and one line
in `KINDS`. Checks beyond types go in the dataclass's `__post_init__`, raising `FieldError`.

This module must not import the job modules at its top level (they pull zarr, tokenizers,
torch): `KINDS` names them and `load` imports only the one a file asks for.
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


@dataclass(frozen=True)
class Kind:
    """Where a job kind lives: `module` defines the config dataclass `config` and `run(config)`."""

    module: str
    config: str
    run: str = "run"


# The one table of job kinds. `python -m mixc.runtime` dispatches through it.
KINDS: dict[str, Kind] = {
    "tokenizer": Kind("mixc.runtime.tokenizer", "TokenizerJob"),
    "tokenize": Kind("mixc.runtime.tokenize_job", "TokenizeJob"),
    "train": Kind("mixc.runtime.train", "TrainJob"),
    "eval": Kind("mixc.runtime.evaluate", "EvalJob"),
}


class JobFileError(Exception):
    """The job file itself is wrong (unreadable, not JSON, wrong schema, a bad field)."""


class FieldError(ValueError):
    """Raised by a config's `__post_init__`: `field` is the field's name inside that config."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class SourceSpec:
    """One data source as jobs see it: its files and how to cut them into documents."""

    name: str
    format: Literal["text", "jsonl"]
    field: str | None  # jsonl: the string field that holds the document; text: null
    files: tuple[str, ...]  # glob patterns, absolute or relative to the working directory

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name or self.name.startswith("."):
            raise FieldError("name", f"not a usable source name: {self.name!r}")
        if self.format == "jsonl" and not self.field:
            raise FieldError("field", "a jsonl source needs the name of its text field")
        if self.format == "text" and self.field is not None:
            raise FieldError("field", "must be null for a text source")
        if not self.files:
            raise FieldError("files", "needs at least one file pattern")


@dataclass(frozen=True)
class Job:
    """A loaded job: its kind, its typed config, and the function that runs it."""

    kind: str
    config: Any
    run: Callable[[Any], None]


def load(path: str | Path) -> Job:
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
    return parse(data, where=str(path))


def parse(data: Any, where: str = "job") -> Job:
    """Check already-decoded JSON (`where` names it in errors) and return the job."""
    if not isinstance(data, dict):
        raise JobFileError(f"{where}: a job file must be a JSON object")
    schema = data.get("schema")
    if schema != SCHEMA:
        raise JobFileError(f"{where}: field 'schema': expected {SCHEMA}, got {json.dumps(schema)}")
    kind_name = data.get("kind")
    if kind_name not in KINDS:
        known = ", ".join(sorted(KINDS))
        raise JobFileError(f"{where}: field 'kind': expected one of {known}, got {json.dumps(kind_name)}")
    kind = KINDS[kind_name]
    module = importlib.import_module(kind.module)
    body = {k: v for k, v in data.items() if k not in ("schema", "kind")}
    config = from_json(getattr(module, kind.config), body, where, "")
    return Job(kind=kind_name, config=config, run=getattr(module, kind.run))


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
