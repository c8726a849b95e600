"""The one reader of the project's YAML files: run configs (`rl/config.py`), `rl.compare --config`
(`rl/evaluation/settings.py`) and `python -m reward.classify --config` (`reward/classify.py`); and the line of
each key, for messages about a value that fails validation (`env/config_errors.py`).

Every failure is a `YamlFileError` whose message names the file (and the line, where there is one) and
says what to do, so each command can print it and exit 2: unreadable, not UTF-8, not YAML, not a mapping.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml


class YamlFileError(ValueError):
    """A YAML file that cannot be used; the message names the file, the line where known, and the fix."""


def read_yaml_mapping(path: str | os.PathLike[str], *, sections: str) -> dict[str, Any]:
    """The top-level mapping of the YAML file `path` ({} for an empty file).

    Args:
        path: the file.
        sections: what the top level should hold, for the message when it is not a mapping
            (e.g. "env/reward/rl/trl sections").

    Raises:
        YamlFileError: the file cannot be read, is not UTF-8, is not valid YAML, or its top level is not
            a mapping.
    """
    where = f"config file {path}"
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise YamlFileError(f"{where}: cannot read ({e.strerror or e})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise YamlFileError(f"{where}:{line}: not UTF-8 (byte 0x{data[e.start]:02x}); save it as UTF-8") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise YamlFileError(f"{where}: not valid YAML ({e})") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise YamlFileError(f"{where}: top level must be a mapping with {sections}, not {type(raw).__name__}")
    return raw


def yaml_key_lines(path: str | os.PathLike[str]) -> dict[tuple[str, ...], int]:
    """The 1-based line of every key and list item of the YAML file `path`, by its path of keys and indices
    (as strings: `("rl", "eval", "variants", "1")`), for messages that point into the file. {} when the file
    cannot be read or parsed (its reader reports that)."""
    try:
        root = yaml.compose(Path(path).read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    lines: dict[tuple[str, ...], int] = {}

    def walk(node: yaml.Node, prefix: tuple[str, ...]) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    path_ = (*prefix, key.value)
                    lines[path_] = key.start_mark.line + 1  # a repeated key: YAML keeps the last
                    walk(value, path_)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                lines[(*prefix, str(i))] = item.start_mark.line + 1
                walk(item, (*prefix, str(i)))

    if root is not None:
        walk(root, ())
    return lines
