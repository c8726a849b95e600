"""Where the tests read OpenRLHF's source: the installed package, a cached unpacked wheel, or the pinned
wheel fetched once with `pip download --no-deps` (OpenRLHF needs CUDA to import; its source is only read)."""

from __future__ import annotations

import argparse
import ast
import datetime
import functools
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from rl.backends.openrlhf.flags import PINNED_VERSION, openrlhf_package_dir

CACHE = Path(os.environ.get("AF_RL_CACHE") or "~/.cache/af-rl").expanduser() / "openrlhf-src" / PINNED_VERSION
HOW_TO_GET = (f"fetch it with pip download --no-deps --only-binary=:all: --python-version 3.11 --platform "
              f"manylinux1_x86_64 openrlhf=={PINNED_VERSION} and unzip the wheel into {CACHE}/ (do not pip install "
              f"it here: the wheel's top-level `tests` package shadows this repository's)")


@functools.cache
def openrlhf_source() -> Path | str:
    """A directory holding the `openrlhf` package (installed, cached or freshly downloaded), or why not."""
    installed = openrlhf_package_dir()
    if installed is not None:
        return installed.parent
    cache = CACHE
    found = _package_parent(cache)
    if found is not None:
        return found
    with tempfile.TemporaryDirectory() as tmp:
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version",
                 "3.11", "--platform", "manylinux1_x86_64", "--implementation", "cp",
                 f"openrlhf=={PINNED_VERSION}", "-d", tmp, "-q"],
                capture_output=True, text=True, timeout=180,
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            return f"downloading openrlhf=={PINNED_VERSION} failed ({e}); {HOW_TO_GET}"
        wheels = list(Path(tmp).glob("openrlhf-*.whl"))
        if proc.returncode or not wheels:
            return f"downloading openrlhf=={PINNED_VERSION} failed ({proc.stderr.strip()[-300:]}); {HOW_TO_GET}"
        cache.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=cache.parent))
        with zipfile.ZipFile(wheels[0]) as wheel:
            wheel.extractall(staging)
        try:
            staging.rename(cache)  # atomic: a concurrent session either wins or finds the cache complete
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
    return _package_parent(cache) or f"the openrlhf=={PINNED_VERSION} wheel holds no openrlhf/cli/train_ppo_ray.py"


def _package_parent(root: Path) -> Path | None:
    hits = sorted(root.glob("**/openrlhf/cli/train_ppo_ray.py")) if root.is_dir() else []
    return hits[0].parents[2] if hits else None


def argparse_parser(path: Path) -> argparse.ArgumentParser:
    """An OpenRLHF CLI's own parser, the truth the flag reader is checked against: the statements of its
    `if __name__ == "__main__":` block up to parse_args, run with only the stdlib names they use."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    main = next(n for n in reversed(tree.body) if isinstance(n, ast.If) and "__main__" in ast.unparse(n.test))
    body = []
    for stmt in main.body:
        if "parse_args" in ast.unparse(stmt):
            break
        body.append(stmt)
    namespace: dict[str, Any] = {"argparse": argparse, "datetime": datetime.datetime, "os": os}
    exec(compile(ast.Module(body=body, type_ignores=[]), str(path), "exec"), namespace)  # noqa: S102
    return namespace["parser"]
