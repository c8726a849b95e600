"""Config validation errors as messages that say what to do: the key's dotted path, where it came from (the
YAML file and line, or the command-line override), the allowed values, and for an unknown key the nearest
known keys ("did you mean `rl.max_steps`?"). Shared by every loader of a user's YAML (run configs,
`rl.compare` settings, `reward.classify --config`).
"""

from __future__ import annotations

import difflib
import typing
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

__all__ = ["ConfigOrigins", "field_paths", "format_validation_error", "model_at", "unknown_key_hint"]

_MAX_SHOWN = 80
"""Longest `got` value shown (characters of its repr)."""
_HIDE_INPUT = {"missing", "extra_forbidden"}
"""Error types whose input is not the user's value (the parent mapping, or an ignored extra)."""
_BOOL_TYPES = {"bool_parsing", "bool_type"}


@dataclass(frozen=True)
class ConfigOrigins:
    """Where the keys of a raw config came from: a YAML file (with the line of each key) and dotted
    `key=value` overrides applied after it, in order."""

    file: str | None = None
    """The YAML file; None when the keys came from elsewhere (defaults, the command line)."""
    lines: Mapping[tuple[str, ...], int] = field(default_factory=dict)
    """1-based line of each key (and list item) in `file`, by its path (`env.yaml_file.yaml_key_lines`)."""
    overrides: Sequence[str] = ()
    """The `dotted.key=value` overrides, as typed."""
    flags: Mapping[tuple[str, ...], str] = field(default_factory=dict)
    """Keys set by a command-line flag, applied last: path -> what set it, shown after "from " (e.g.
    "`--n-queries 0`")."""

    def origin(self, path: Sequence[str]) -> str:
        """Where the value at `path` came from: "from command-line override `k=v`", "from `--flag v`",
        "at FILE:LINE", "in FILE" or "" (a default)."""
        path = tuple(path)
        for n in range(len(path), 0, -1):
            if path[:n] in self.flags:
                return f"from {self.flags[path[:n]]}"
        paths = [(tuple(o.partition("=")[0].split(".")), o) for o in self.overrides]
        # The last override at or above the key set its value (it replaced the file's).
        for opath, text in reversed(paths):
            if path[: len(opath)] == opath:
                return f"from command-line override `{text}`"
        if path in self.lines:
            return f"at {self.file}:{self.lines[path]}"
        # A key the file lacks that an override created below it (`trainer.lr=1` makes `trainer`).
        for opath, text in reversed(paths):
            if opath[: len(path)] == path:
                return f"from command-line override `{text}`"
        for n in range(len(path) - 1, 0, -1):
            if path[:n] in self.lines:
                return f"at {self.file}:{self.lines[path[:n]]}"
        return f"in {self.file}" if self.file else ""


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation can hold: `X`, `X | None`, `list[X]`, `dict[str, X]`, ..."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    origin = typing.get_origin(annotation)
    if origin is None or origin is typing.Literal:
        return []
    if origin is typing.Annotated:
        return _models_in(typing.get_args(annotation)[0])
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def model_at(model: type[BaseModel], path: Sequence[str | int]) -> type[BaseModel] | None:
    """The model that validates the mapping at `path` below `model` (list indices and dict keys are stepped
    over), or None when `path` leads to no model (a scalar, an unknown key)."""
    current: type[BaseModel] | None = model
    for part in path:
        if current is None:
            return None
        info = current.model_fields.get(str(part))
        if info is None:
            if isinstance(part, int) or str(part).isdigit():  # an item of the list just entered
                continue
            return None
        found = _models_in(info.annotation)
        current = found[0] if found else None
    return current


def field_paths(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], type[BaseModel], str]]:
    """Every key below `model`, depth first in field order: (path, the model that holds it, field name).
    Sections (fields holding a model) come before their keys."""
    for name, info in model.model_fields.items():
        yield (*prefix, name), model, name
        for sub in _models_in(info.annotation)[:1]:
            yield from field_paths(sub, (*prefix, name))


def _dotted(parts: Sequence[str]) -> str:
    return ".".join(parts)


def unknown_key_hint(model: type[BaseModel] | None, path: Sequence[str], root: type[BaseModel] | None = None,
                     prefix: Sequence[str] = ()) -> str:
    """What to say about the unknown key at `path` (relative to `root`): the close names at its level
    ("did you mean `rl.max_steps`?"), else the same name in another section, else the level's keys.

    Args:
        model: the model of the key's level; None gives "".
        path: the key's path below `root`.
        root: the top model, searched for the same key name in other sections.
        prefix: shown before every path (e.g. ("reward",) when `root` is the reward section).
    """
    if model is None:
        return ""
    *parent, name = [str(p) for p in path]
    known = list(model.model_fields)
    by_lower = {k.lower(): k for k in known}
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=3, cutoff=0.6)
    if close:
        options = " or ".join(f"`{_dotted([*prefix, *parent, by_lower[c]])}`" for c in close)
        return f"did you mean {options}?"
    if root is not None:
        elsewhere = [p for p, _, leaf in field_paths(root) if leaf == name]
        if elsewhere:
            return f"did you mean {' or '.join(f'`{_dotted([*prefix, *p])}`' for p in elsewhere[:3])}?"
    where = _dotted([*prefix, *parent]) or "the top level"
    return f"{where} has no key like it; its keys are: {', '.join(known)}"


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def _problem(e: Mapping[str, Any], model: type[BaseModel] | None, origins: ConfigOrigins | None,
             prefix: tuple[str, ...]) -> str:
    loc = [str(p) for p in e["loc"]]
    key = _dotted([*prefix, *loc]) or "(top level)"
    origin = origins.origin([*prefix, *loc]) if origins is not None else ""
    where = f", {origin}" if origin else ""
    if e["type"] == "extra_forbidden":
        hint = unknown_key_hint(model_at(model, loc[:-1]), loc, model, prefix) if model is not None else ""
        return f"  {key}: unknown key{where}" + (f"; {hint}" if hint else "")
    msg = e["msg"].removeprefix("Value error, ")
    value = e.get("input")
    if e["type"] in _HIDE_INPUT or (isinstance(value, dict) and e["type"] in ("value_error", "assertion_error")):
        got = ""
    else:
        got = f" (got {_shown(value)})"
    hint = ""
    if e["type"] == "missing" and len(loc) > 1 and origin.startswith("at "):
        where = f"; add it to the `{_dotted([*prefix, *loc[:-1]])}:` section {origin}"
    if e["type"] in _BOOL_TYPES:
        hint = "; use true or false"
    if isinstance(value, dict) and origin.startswith("from command-line override") and e["type"] not in (
            "value_error", "assertion_error", "missing"):
        hint = f"; {key} is a value, not a section: set it as {key}=VALUE"
    return f"  {key}: {msg}{got}{where}{hint}"


def format_validation_error(err: ValidationError, source: str | None, *, model: type[BaseModel] | None = None,
                            origins: ConfigOrigins | None = None, prefix: Sequence[str] = ()) -> str:
    """A pydantic error as a header plus one line per problem: "  dotted.key: message (got value), origin".

    Args:
        err: the error of `model.model_validate(raw)`.
        source: what was validated, for the header ("SOURCE: invalid config"); None when `origins` says it
            per problem.
        model: the validated model; with it an unknown key gets the nearest known keys.
        origins: where each key came from (file and line, or override); each problem names its origin.
        prefix: the section `model` is, put before every key (e.g. ("reward",)).
    """
    n = err.error_count()
    head = f"invalid config ({n} problem{'s' if n > 1 else ''})"
    lines = [f"{source}: {head}" if source else head]
    lines += [_problem(e, model, origins, tuple(prefix)) for e in err.errors()]
    return "\n".join(lines)
