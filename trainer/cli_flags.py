"""Command-line flags from settings dataclasses (trainer.fields): a flag per field, with its
type, choices and help; and back, the words that set a field to a value."""
from __future__ import annotations

import argparse
import dataclasses
import typing
from typing import Any

from trainer.fields import hint_of, label_of

CLI = "python -m trainer"


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def number(text: str) -> float | int:
    """An integer, or a fraction: "0.1" -> 0.1, "32" -> 32."""
    value = float(text)
    return int(value) if value.is_integer() and value >= 1 else value


def optional(parse):
    def parser(text: str):
        return None if text.lower() in ("", "none") else parse(text)
    parser.__name__ = getattr(parse, "__name__", "value")
    return parser


def add_field(parser, cls, name: str, *, dest: str | None = None, default=None, help_prefix: str = ""):
    """A flag for the dataclass field `cls.name`, from its type and metadata (default None: the
    caller keeps its own value); returns argparse's action."""
    f = next(f for f in dataclasses.fields(cls) if f.name == name)
    hint, is_optional = hint_of(cls, name)
    kwargs: dict[str, Any] = {"dest": dest or name, "default": default,
                              "help": (help_prefix + f.metadata.get("help", label_of(f))).replace("%", "%%")}
    args = typing.get_args(hint)
    if hint is bool:
        kwargs["action"] = argparse.BooleanOptionalAction
    elif typing.get_origin(hint) is tuple:
        item = args[0]
        kwargs.update(nargs="+" if args[-1] is Ellipsis else len(args),
                      type=number if item is float and "batch" in name else item)
    elif hint is float and "batch" in name:
        kwargs["type"] = number
    else:
        kwargs["type"] = optional(hint) if is_optional else hint
    if f.metadata.get("choices") and hint is not bool:
        kwargs["choices"] = f.metadata["choices"]
        if typing.get_origin(hint) is tuple:
            kwargs["metavar"] = "NAME"
    return parser.add_argument(flag(dest or name), **kwargs)


def _words(value) -> list[str]:
    if isinstance(value, (tuple, list)):
        return [w for v in value for w in _words(v)]
    if value is None:
        return ["none"]
    return [repr(value) if isinstance(value, float) else str(value)]


def flag_words(name: str, value, default) -> list[str]:
    """The words that set `name` to `value` on a command line whose default is `default` (none if equal)."""
    if value == default:
        return []
    if isinstance(value, bool):
        return [flag(name) if value else flag(f"no_{name}")]
    return [flag(name), *_words(value)]
