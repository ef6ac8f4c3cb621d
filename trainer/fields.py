"""Settings dataclasses whose fields carry their own help text, choices and bounds.

A field made with `setting(...)` says once what it is; the checks, the CLI flags and the
web form are read from that metadata:

    lr: float = setting(1e-3, "learning rate", low=0, low_open=True)

`check_fields(obj)` checks every field's type, choices and bounds and raises
ConfigError(field, message); `to_dict` / `from_dict` round-trip through JSON (tuples as
lists) and refuse unknown keys, naming the first.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from typing import Any


class ConfigError(ValueError):
    """A bad setting: `field` names it, `message` says what is allowed."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def setting(default, help: str, *, choices: tuple | None = None, low: float | None = None,
            low_open: bool = False, high: float | None = None, label: str | None = None):
    """A dataclass field with its help text, closed set of values and bounds (None: unbounded)."""
    metadata = {"help": help, "choices": choices, "low": low, "low_open": low_open, "high": high, "label": label}
    if isinstance(default, (dict, list)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def same_as(cls, name: str, default=dataclasses.MISSING, **changes):
    """A field that means what `cls`'s field `name` means: its help, choices and bounds, written once."""
    source = next(f for f in dataclasses.fields(cls) if f.name == name)
    metadata = {**source.metadata, **changes}
    value = source.default if default is dataclasses.MISSING else default
    return setting(value, **{k: metadata[k] for k in ("help", "choices", "low", "low_open", "high", "label")})


def label_of(f: dataclasses.Field) -> str:
    return f.metadata.get("label") or f.name.replace("_", " ")


@functools.lru_cache(maxsize=None)
def _hints(cls) -> dict[str, tuple[Any, bool]]:
    hints = {}
    for name, hint in typing.get_type_hints(cls).items():  # evaluates the annotations: once per class
        if isinstance(hint, types.UnionType):
            args = typing.get_args(hint)
            hints[name] = (next(a for a in args if a is not type(None)), type(None) in args)
        else:
            hints[name] = (hint, False)
    return hints


def hint_of(cls, name: str):
    """The field's type, with `X | None` reduced to X: (type, optional)."""
    return _hints(cls)[name]


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _type_problem(value, hint) -> str | None:
    """What `value` should be for `hint`, or None when it is fine."""
    origin = typing.get_origin(hint)
    if hint is float:
        return None if _is_number(value) else "a finite number"
    if hint is int:
        return None if isinstance(value, int) and not isinstance(value, bool) else "a whole number"
    if hint is bool:
        return None if isinstance(value, bool) else "true or false"
    if hint is str:
        return None if isinstance(value, str) else "a string"
    if origin is dict or hint is dict:
        return None if isinstance(value, dict) else "a mapping of settings"
    if origin is tuple:
        args = typing.get_args(hint)
        item = args[0]
        if not isinstance(value, (tuple, list)) or (args[-1] is not Ellipsis and len(value) != len(args)):
            return f"a list of {len(args)} values" if args[-1] is not Ellipsis else "a list"
        problems = [_type_problem(v, item) for v in value]
        return next((f"a list of which each is {p}" for p in problems if p), None)
    return None


def _bound_problem(f: dataclasses.Field, value, optional: bool) -> str | None:
    low, high, low_open = f.metadata.get("low"), f.metadata.get("high"), f.metadata.get("low_open")
    if low is None and high is None:
        return None
    values = value if isinstance(value, (tuple, list)) else (value,)
    if all((low is None or (v > low if low_open else v >= low)) and (high is None or v <= high) for v in values):
        return None
    if low is not None and high is not None:
        return f"in [{low:g}, {high:g}]"
    if high is not None:
        return f"at most {high:g}"
    if low_open:
        return "positive" if low == 0 else f"above {low:g}"
    if low == 0:
        return "zero or more"
    return f"at least {low:g}" + (" or left empty" if optional else "")


def check_fields(obj) -> None:
    """Every field's type, choices and bounds, in field order; ConfigError names the first bad one."""
    cls = type(obj)
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        hint, optional = hint_of(cls, f.name)
        if value is None and optional:
            continue
        problem = _type_problem(value, hint)
        if problem:
            raise ConfigError(f.name, f"must be {problem} (got {value!r})")
        choices = f.metadata.get("choices")
        if choices:
            values = value if isinstance(value, (tuple, list)) else (value,)
            wrong = [v for v in values if v not in choices]
            if wrong:
                raise ConfigError(f.name, f"must be one of {', '.join(map(str, choices))} (got {wrong[0]!r})")
        problem = _bound_problem(f, value, optional)
        if problem:
            raise ConfigError(f.name, f"must be {problem} (got {value!r})")


def tuples(obj) -> None:
    """Lists given for tuple fields become tuples (a frozen dataclass compares and hashes by them)."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, list) and typing.get_origin(hint_of(type(obj), f.name)[0]) is tuple:
            object.__setattr__(obj, f.name, tuple(value))


class Checked:
    """A settings dataclass that checks its fields when made: subclasses add rules in `check`."""

    def __post_init__(self):
        tuples(self)
        check_fields(self)
        self.check()

    def check(self) -> None:
        pass


def check_known(cls, d: dict[str, Any], what: str) -> None:
    """Refuse keys that are not fields of the dataclass `cls`, naming the first and the known ones."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise ConfigError(unknown[0], f"unknown {what}; known: {', '.join(sorted(names)) or 'none'}")


def to_dict(obj) -> dict[str, Any]:
    """Plain JSON: tuples become lists."""
    def plain(v):
        return [plain(x) for x in v] if isinstance(v, (tuple, list)) else v
    return {f.name: plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}


def from_dict(cls, d: dict[str, Any], what: str = "setting"):
    """The dataclass from JSON (lists become tuples where the field is a tuple); unknown keys are refused."""
    if not isinstance(d, dict):
        raise ConfigError(what, f"must be a mapping of settings (got {d!r})")
    check_known(cls, d, what)
    values = {}
    for name, value in d.items():
        hint, _ = hint_of(cls, name)
        values[name] = tuple(value) if typing.get_origin(hint) is tuple and isinstance(value, list) else value
    return cls(**values)
