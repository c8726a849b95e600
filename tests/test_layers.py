"""Layer boundary: env/ and reward/ import without torch, ray, vllm, trl, openrlhf, transformers or wandb."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHECK = """
import importlib, pkgutil, sys, env, reward
for pkg in (env, reward):
    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
        if not m.name.endswith("__main__"):
            importlib.import_module(m.name)
heavy = {"torch", "ray", "vllm", "trl", "openrlhf", "wandb", "transformers", "datasets"} & set(sys.modules)
assert not heavy, heavy
"""

RL_CONFIG_CHECK = """
import sys
from rl.config import load_config
load_config("configs/demo_cpu.yaml")
heavy = {"torch", "ray", "trl", "transformers", "wandb"} & set(sys.modules)
assert not heavy, heavy
"""


def test_env_and_reward_import_without_heavy_deps() -> None:
    # A fresh interpreter, so imports made by other tests cannot mask a leak.
    subprocess.run([sys.executable, "-c", CHECK], check=True, cwd=ROOT)


def test_config_validation_imports_nothing_heavy() -> None:
    subprocess.run([sys.executable, "-c", RL_CONFIG_CHECK], check=True, cwd=ROOT)


def test_reward_never_imports_rl() -> None:
    offenders = [p for p in (ROOT / "reward").rglob("*.py") if "from rl" in p.read_text() or "import rl" in p.read_text()]
    offenders += [p for p in (ROOT / "env").rglob("*.py")
                  if any(s in p.read_text() for s in ("from rl", "import rl", "from reward", "import reward"))]
    assert not offenders
