"""OpenRLHF's command-line flags, read from its source with `ast` (OpenRLHF needs CUDA to import), so a
launcher can reject a flag the installed OpenRLHF lacks before anything starts."""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import itertools
import re
from pathlib import Path
from typing import Iterator

PINNED_VERSION = "0.11.2"
"""The OpenRLHF release this project's launcher targets (also pinned in constraints.txt)."""
TRAIN_PPO_RAY = Path("cli", "train_ppo_ray.py")
"""The PPO/GRPO entry point (`python -m openrlhf.cli.train_ppo_ray`), relative to the `openrlhf` package."""
TRAIN_SFT = Path("cli", "train_sft.py")
"""The SFT entry point (`deepspeed --module openrlhf.cli.train_sft`), relative to the `openrlhf` package."""
ARGPARSE_HELP = frozenset({"-h", "--help"})
"""Added by argparse itself, so no add_argument call names them."""
_NUMBER_RE = re.compile(r"-\.?\d")
Bindings = dict[str, list[str]]
"""Values of the string loop variables in scope: {"prefix": ["actor", "critic"]}."""


class OpenRlhfSourceError(RuntimeError):
    """OpenRLHF's source cannot be found, or its flags cannot be read from it statically."""


def openrlhf_version() -> str | None:
    """Version of the installed `openrlhf` distribution (from its metadata; nothing is imported), or None."""
    try:
        return importlib.metadata.version("openrlhf")
    except importlib.metadata.PackageNotFoundError:
        return None


def openrlhf_package_dir() -> Path | None:
    """Directory of the installed `openrlhf` package, found without importing it, or None.

    `find_spec` on a top-level name only searches sys.path; it does not run the package's __init__.
    """
    spec = importlib.util.find_spec("openrlhf")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def cli_path(module: str, source: Path | None = None) -> Path:
    """Path of `openrlhf/cli/<module>.py` (e.g. "train_ppo_ray", "train_sft").

    Args:
        module: the entry point's module name under `openrlhf.cli`.
        source: that file itself, the `openrlhf` package directory, or a directory holding `openrlhf/`
            (site-packages, an unpacked wheel's `*.data/purelib`); None = the installed package.
    Raises:
        OpenRlhfSourceError: nothing is installed, or `source` holds no such file.
    """
    relative = Path("cli", f"{module}.py")
    if source is None:
        package = openrlhf_package_dir()
        if package is None:
            raise OpenRlhfSourceError(
                f"OpenRLHF is not installed, so its flags cannot be read. Install the GPU environment, which "
                f"holds openrlhf=={PINNED_VERSION}: bash cluster/install_gpu.sh (or pass the source path)"
            )
        candidates = [package / relative]
    else:
        source = Path(source)
        candidates = [source, source / relative, source / "openrlhf" / relative]
    for path in candidates:
        if path.is_file() and path.name == relative.name:
            return path
    raise OpenRlhfSourceError(f"no openrlhf/{relative.as_posix()} at {candidates[0]}")


def cli_flags(module: str, source: Path | None = None) -> set[str]:
    """Every option string of `openrlhf.cli.<module>`'s parser (aliases included, plus -h/--help).

    Reads each `add_argument(...)` call in the file with `ast`, expanding f-strings whose names come from
    an enclosing `for NAME in ("a", "b")` loop (how OpenRLHF 0.11 declares `--actor.*`/`--critic.*` twice).

    Args:
        module: e.g. "train_ppo_ray" or "train_sft".
        source: see `cli_path`.
    Raises:
        OpenRlhfSourceError: the file is missing or unparsable, or an option string is computed in a way
            this reader cannot follow (so the set would silently miss a real flag).
    """
    path = cli_path(module, source)
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (OSError, SyntaxError, ValueError) as e:
        raise OpenRlhfSourceError(f"cannot parse {path}: {e}") from e
    flags = set(ARGPARSE_HELP)
    for call, bindings in _add_argument_calls(tree, {}):
        options = [_strings(arg, bindings) for arg in call.args]
        if not options or any(opts is None for opts in options):
            raise OpenRlhfSourceError(f"{path}:{call.lineno}: cannot read this add_argument's option strings")
        names = {s for opts in options for s in opts if s.startswith("-")}  # type: ignore[union-attr]
        flags |= names
        if _is_boolean_optional(call):  # argparse adds --no-X beside --X
            flags |= {"--no-" + n[2:] for n in names if n.startswith("--")}
    return flags


def train_ppo_ray_path(source: Path | None = None) -> Path:
    """Path of `openrlhf/cli/train_ppo_ray.py` (see `cli_path`)."""
    return cli_path(TRAIN_PPO_RAY.stem, source)


def train_ppo_ray_flags(source: Path | None = None) -> set[str]:
    """Every option string of `openrlhf.cli.train_ppo_ray`'s parser (see `cli_flags`)."""
    return cli_flags(TRAIN_PPO_RAY.stem, source)


def check_flags(args: list[str], known: set[str]) -> list[str]:
    """The options in the command line `args` that are not in `known`, in order of first appearance.

    `--flag=value` counts as `--flag`; negative numbers are values; nothing after a bare `--` is an
    option. argparse's unique-prefix abbreviations are reported as unknown on purpose: a prefix that is
    unique in one OpenRLHF release can be ambiguous or mean another flag in the next.
    """
    unknown: list[str] = []
    for token in args:
        if token == "--":
            break
        if not token.startswith("-") or token == "-" or _NUMBER_RE.match(token):
            continue
        name = token.split("=", 1)[0]
        if name not in known and name not in unknown:
            unknown.append(name)
    return unknown


def unknown_flags_message(unknown: list[str], version: str | None) -> str:
    """The launch error for `check_flags`'s result, e.g. "OpenRLHF 0.9.0 has no flag --x; this project
    targets openrlhf==0.11.2"."""
    which = f"OpenRLHF {version}" if version else "The installed OpenRLHF (version unknown)"
    noun = "flag" if len(unknown) == 1 else "flags"
    return f"{which} has no {noun} {', '.join(unknown)}; this project targets openrlhf=={PINNED_VERSION}"


def _add_argument_calls(node: ast.AST, bindings: Bindings) -> Iterator[tuple[ast.Call, Bindings]]:
    """Yield each `<x>.add_argument(...)` call with the string values of enclosing for-loop variables."""
    if isinstance(node, ast.For) and isinstance(node.target, ast.Name):
        values = _literal_strings(node.iter)
        inner = {**bindings, node.target.id: values} if values is not None else bindings
        for child in node.body:
            yield from _add_argument_calls(child, inner)
        for child in node.orelse:
            yield from _add_argument_calls(child, bindings)
        return
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "add_argument":
        yield node, bindings
    for child in ast.iter_child_nodes(node):
        yield from _add_argument_calls(child, bindings)


def _literal_strings(node: ast.expr) -> list[str] | None:
    """The items of a literal tuple/list of strings, else None."""
    if isinstance(node, (ast.Tuple, ast.List)) and all(
        isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts
    ):
        return [e.value for e in node.elts]  # type: ignore[attr-defined]
    return None


def _strings(node: ast.expr, bindings: Bindings) -> list[str] | None:
    """Every value a string expression can take: a constant, an f-string or `+` over loop variables."""
    if isinstance(node, ast.Constant):
        return [node.value] if isinstance(node.value, str) else None
    if isinstance(node, ast.Name):
        return bindings.get(node.id)
    if isinstance(node, ast.FormattedValue):
        return _strings(node.value, bindings) if node.conversion == -1 and node.format_spec is None else None
    if isinstance(node, ast.JoinedStr):
        parts = [_strings(v, bindings) for v in node.values]
        if any(p is None for p in parts):
            return None
        return ["".join(t) for t in itertools.product(*parts)]  # type: ignore[arg-type]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _strings(node.left, bindings), _strings(node.right, bindings)
        return None if left is None or right is None else [a + b for a in left for b in right]
    return None


def _is_boolean_optional(call: ast.Call) -> bool:
    for kw in call.keywords:
        if kw.arg == "action":
            v = kw.value
            return (isinstance(v, ast.Attribute) and v.attr == "BooleanOptionalAction") or (
                isinstance(v, ast.Name) and v.id == "BooleanOptionalAction"
            )
    return False
