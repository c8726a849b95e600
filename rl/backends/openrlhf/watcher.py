"""OpenRLHF's HF checkpoints: found as they are written, published as the run's checkpoints/step-<N> and
evaluated once each, in step order (`CheckpointWatcher`)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, Callable

HF_SUFFIX = "_hf"
STEP_PREFIX = "global_step"
STABLE_SECONDS = 20.0
"""A checkpoint directory whose files haven't changed for this long is complete."""


def hf_checkpoints(ckpt_path: Path) -> list[tuple[int, Path]]:
    """OpenRLHF's HF-format checkpoints `global_step<N>_hf`, in step order."""
    if not ckpt_path.is_dir():
        return []
    found = []
    for p in ckpt_path.iterdir():
        name = p.name
        if p.is_dir() and name.startswith(STEP_PREFIX) and name.endswith(HF_SUFFIX):
            digits = name[len(STEP_PREFIX):-len(HF_SUFFIX)]
            if digits.isdigit():
                found.append((int(digits), p))
    return sorted(found)


def has_model_files(path: Path) -> bool:
    """A saved model directory with its config, weights (every shard its index names) and tokenizer."""
    files = [f for f in path.rglob("*") if f.is_file()]
    names = {f.name for f in files}
    has_config = "config.json" in names or "adapter_config.json" in names
    has_weights = any(n.endswith((".safetensors", ".bin")) for n in names)
    has_tokenizer = "tokenizer_config.json" in names
    if not (has_config and has_weights and has_tokenizer):
        return False
    for index in (f for f in files if f.name.endswith(".index.json")):
        try:
            shards = set(json.loads(index.read_text(encoding="utf-8")).get("weight_map", {}).values())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
            return False
        if not all((index.parent / shard).is_file() for shard in shards):
            return False
    return True


def is_complete(path: Path, stable_s: float, now: float | None = None) -> bool:
    """has_model_files, and none of them changed for `stable_s` seconds (OpenRLHF is done writing it)."""
    if not has_model_files(path):
        return False
    newest = max(f.stat().st_mtime for f in path.rglob("*") if f.is_file())
    return (now if now is not None else time.time()) - newest >= stable_s


class CheckpointWatcher:
    """Publishes OpenRLHF's HF checkpoints as checkpoints/step-<N> and evaluates each once, in order.

    Args:
        ckpt_path: OpenRLHF's --ckpt.path.
        checkpoints_dir: the run's checkpoints/ directory.
        evaluate: called with (step, published path) for each new checkpoint.
        stable_s: how long a checkpoint's files must stay unchanged before it counts as written.
    """

    def __init__(self, ckpt_path: Path, checkpoints_dir: Path, evaluate: Callable[[int, Path], None], *,
                 stable_s: float = STABLE_SECONDS, log: Callable[[str], None] = print) -> None:
        self.ckpt_path = ckpt_path
        self.checkpoints_dir = checkpoints_dir
        self.evaluate = evaluate
        self.stable_s = stable_s
        self.log = log
        self.done: set[int] = set()
        self.errors: list[str] = []

    def poll(self, *, final: bool = False) -> list[int]:
        """Handle every checkpoint that is complete (is_complete).

        `final`: OpenRLHF has exited with code 0, so nothing is being written any more: every checkpoint with
        all its files (has_model_files) is taken without waiting for it to be stable; one without them is
        left alone and reported (a save torn by an earlier attempt's crash, which a restart does not redo).
        """
        handled = []
        for step, path in hf_checkpoints(self.ckpt_path):
            if step in self.done:
                continue
            if not (has_model_files(path) if final else is_complete(path, self.stable_s)):
                if final:
                    self.log(f"checkpoint step {step} ({path}) lacks files (a save cut short by a crash): not "
                             f"published or evaluated")
                continue
            dst = self.checkpoints_dir / f"step-{step}"
            self.checkpoints_dir.mkdir(parents=True, exist_ok=True)
            if dst.exists():
                shutil.rmtree(dst)
            shutil.copytree(path, dst)  # a copy: OpenRLHF may still rotate or rewrite its own directory
            self.done.add(step)
            handled.append(step)
            try:
                self.evaluate(step, dst)
            except Exception as e:  # noqa: BLE001 - a failed evaluation is reported, training goes on
                self.errors.append(f"step {step}: {type(e).__name__}: {e}")
                self.log(f"evaluation of checkpoint step {step} failed: {type(e).__name__}: {e}")
        return handled

    def watch(self, proc: subprocess.Popen[Any], interval_s: float = 10.0) -> int:
        """Poll while `proc` runs, then look once more; returns proc's exit code.

        After exit code 0 the last look takes every checkpoint with all its files (poll(final=True)). After
        any other code it is an ordinary poll: OpenRLHF writes global_step<N>_hf in place after its DeepSpeed
        checkpoint, so a crash mid-save leaves a partial directory that a restart (resuming from the DeepSpeed
        checkpoint) never rewrites; only a checkpoint that passes is_complete is published.
        """
        while proc.poll() is None:
            self.poll()
            time.sleep(interval_s)
        rc = int(proc.returncode)
        if rc == 0:
            self.poll(final=True)
        else:
            self.poll()
            left = [step for step, path in hf_checkpoints(self.ckpt_path) if step not in self.done]
            if left:
                self.log(f"OpenRLHF exited with code {rc}: checkpoint steps {left} are incomplete or were still "
                         f"being written: not published (a restart takes them once they are complete)")
        return rc
