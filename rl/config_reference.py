"""The config-key reference, docs/config.md: every key of a run config (dotted path, type, default and the
docstring under the field), generated from `RunConfig` and the models it composes.

Run `python -m rl.config_reference` after changing a config model; `--check` exits 1 when docs/config.md is
stale (tests/rl/test_config_reference.py runs the same comparison).
"""

from __future__ import annotations

import argparse
import ast
import functools
import inspect
import itertools
import json
import re
import sys
import textwrap
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined, to_jsonable_python

from env.config_errors import field_paths
from rl.config import RunConfig

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "config.md"
COMMAND = "python -m rl.config_reference"
_BOUNDS = (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"), ("min_length", "length >="),
           ("max_length", "length <="), ("pattern", "matches"))
_HEADER = f"""# Config reference

Every key of a run config, as `python rl/train.py --config FILE.yaml [dotted.key=value ...]` reads it. A key's
dotted path says where it goes: `rl.max_steps` is `max_steps` under `rl:` in the YAML file, or `rl.max_steps=5`
as a command-line override. Unknown keys are errors (the message suggests the nearest known key).

Generated from the config models (`rl/config.py` and the sections it composes) by `{COMMAND}`;
do not edit by hand, edit the docstring under the field and run it again.
"""


@dataclass(frozen=True)
class KeyDoc:
    """One config key as the reference shows it."""

    path: str
    """Dotted path, e.g. `rl.max_steps`."""
    type: str
    default: str
    """The default as YAML would write it, "required", or "section defaults"."""
    bounds: str
    """Field constraints, e.g. ">= 1"; "" if none."""
    doc: str
    """The field's description; "" when it has none (the reference test fails on that)."""
    section: bool
    """True when the key holds a section of its own (listed under its own heading)."""


def field_docs(model: type[BaseModel]) -> dict[str, str]:
    """The docstring under each field of `model` and of the models it inherits from (the nearest class wins),
    read from the source; a `Field(description=...)` takes precedence."""
    docs: dict[str, str] = {}
    for cls in reversed(model.__mro__):
        if not (isinstance(cls, type) and issubclass(cls, BaseModel)) or cls is BaseModel:
            continue
        node = _class_node(cls)
        body = node.body if node is not None else []
        for stmt, after in itertools.pairwise(body):
            if (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
                    and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                    and isinstance(after.value.value, str)):
                docs[stmt.target.id] = inspect.cleandoc(after.value.value)
    for name, info in model.model_fields.items():
        if info.description:
            docs[name] = info.description
    return docs


def _class_node(cls: type) -> ast.ClassDef | None:
    """The class statement of `cls` in its module's source; None when there is no source."""
    try:
        filename = inspect.getsourcefile(cls)
    except TypeError:
        return None
    if filename is None or "." in cls.__qualname__:  # a nested class: let inspect find it
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
        except (OSError, TypeError):
            return None
        return next((n for n in tree.body if isinstance(n, ast.ClassDef)), None)
    return _module_classes(filename).get(cls.__name__)


@functools.cache
def _module_classes(filename: str) -> dict[str, ast.ClassDef]:
    tree = ast.parse(Path(filename).read_text(encoding="utf-8"))
    return {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}


def _type_text(t: Any) -> str:
    """A field's annotation in a YAML user's words: `int | null`, `list["free" | "paid"]`, `section`."""
    if t is type(None):
        return "null"
    if isinstance(t, type) and issubclass(t, BaseModel):
        return "section"
    origin, args = typing.get_origin(t), typing.get_args(t)
    if origin is typing.Literal:
        return " | ".join(json.dumps(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_text(a) for a in args)
    if origin is typing.Annotated:
        return _type_text(args[0])
    if origin in (list, tuple, set, frozenset):
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            return "[" + ", ".join(_type_text(a) for a in args) + "]"
        return f"list[{_type_text(args[0])}]" if args else "list"
    if origin is dict:
        return f"mapping of {_type_text(args[0])} to {_type_text(args[1])}" if args else "mapping"
    if isinstance(t, type):
        return t.__name__
    return str(t).replace("typing.", "")


def _default_text(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    value = info.get_default(call_default_factory=True)
    if value is PydanticUndefined:
        return "required"
    if isinstance(value, BaseModel):
        return "section defaults"
    return json.dumps(to_jsonable_python(value))


def _bounds_text(info: FieldInfo) -> str:
    found = []
    for meta in info.metadata:
        for attr, word in _BOUNDS:
            value = getattr(meta, attr, None)
            if value is not None:
                found.append(f"{word} `{value}`" if attr == "pattern" else f"{word} {value:g}"
                             if isinstance(value, float) else f"{word} {value}")
    return ", ".join(found)


def config_keys(model: type[BaseModel] = RunConfig) -> list[KeyDoc]:
    """Every key below `model`, depth first in field order (a section's key before the section's keys)."""
    docs: dict[type[BaseModel], dict[str, str]] = {}
    keys = []
    for path, owner, name in field_paths(model):
        info = owner.model_fields[name]
        doc = docs.setdefault(owner, field_docs(owner)).get(name, "")
        if info.exclude:
            doc += " Not saved with the run's config."
        keys.append(KeyDoc(path=".".join(path), type=_type_text(info.annotation), default=_default_text(info),
                           bounds=_bounds_text(info), doc=doc.strip(), section="section" in _type_text(info.annotation)))
    return keys


def _models_by_path(model: type[BaseModel]) -> dict[str, type[BaseModel]]:
    from env.config_errors import model_at

    out = {"": model}
    for path, _, _ in field_paths(model):
        sub = model_at(model, path)
        if sub is not None:
            out[".".join(path)] = sub
    return out


def _anchor(title: str) -> str:
    """GitHub's heading anchor."""
    return re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")


def _one_line(text: str) -> str:
    """`text` on one line, with `<` and `*` outside code spans escaped (Markdown would read `<NEXT/>` as an
    HTML tag and drop it)."""
    parts = " ".join(text.split()).split("`")
    for i in range(0, len(parts), 2):
        parts[i] = parts[i].replace("<", "&lt;").replace("*", "\\*")
    return "`".join(parts)


def render(model: type[BaseModel] = RunConfig) -> str:
    """The text of docs/config.md: a contents list, then one heading per section with its keys."""
    keys = config_keys(model)
    models = _models_by_path(model)
    sections = [""] + [k.path for k in keys if k.path in models]
    by_section: dict[str, list[KeyDoc]] = {s: [] for s in sections}
    for k in keys:
        by_section[k.path.rpartition(".")[0]].append(k)
    title = {s: f"`{s}`" if s else "Top level" for s in sections}
    out = [_HEADER, "## Contents", ""]
    out += [f"{'  ' * s.count('.') if s else ''}- [{title[s]}](#{_anchor(title[s])})" for s in sections]
    for s in sections:
        out += ["", f"## {title[s]}", ""]
        class_doc = inspect.cleandoc(models[s].__doc__ or "")
        if class_doc:
            out += [_one_line(p) for p in class_doc.split("\n\n")]
            out.append("")
        for k in by_section[s]:
            facts = [f"`{k.type}`"] + ([k.bounds] if k.bounds else []) + [
                f"default `{k.default}`" if k.default not in ("required", "section defaults") else k.default]
            if k.section:
                facts.append(f"keys in [{title[k.path]}](#{_anchor(title[k.path])})")
            out.append(f"- **`{k.path}`** ({'; '.join(facts)})  ")
            out.append(f"  {_one_line(k.doc)}")
    return "\n".join(out).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog=COMMAND, description=__doc__.split("\n\n")[0])
    p.add_argument("--check", action="store_true", help="exit 1 if docs/config.md differs from the models")
    args = p.parse_args(argv)
    text = render()
    shown = OUT.relative_to(ROOT) if OUT.is_relative_to(ROOT) else OUT
    if args.check:
        current = OUT.read_text(encoding="utf-8") if OUT.exists() else ""
        if current != text:
            print(f"{shown} is stale (the config models changed): run `{COMMAND}`", file=sys.stderr)
            return 1
        print(f"{shown} is up to date")
        return 0
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {shown} ({len(config_keys())} keys)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
