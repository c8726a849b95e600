"""HF Trainer callbacks that connect a TRL run to our logger, evaluation and checkpoint layout."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from transformers import TrainerCallback

from env.progress import format_duration, progress_label
from rl.numbers import pct

if TYPE_CHECKING:
    from rl.wandb_log import RunLogger

CHECKPOINT_PREFIX = "step-"
_TRAINER_PREFIX = "checkpoint-"
CONFIG_FILE = "config.yaml"
_SHOWN = (("train/reward", "reward", "number"), ("train/compliance", "compliance", "rate"),
          ("train/af_rate", "AF", "rate"), ("train/format_ok", "format ok", "rate"), ("train/loss", "loss", "number"),
          ("train/kl", "kl", "number"), ("train/step_time", "step time", "seconds"))
"""What each step's log line shows: (metric, name, kind); rates in percent as everywhere (rl.numbers)."""


def step_brief(metrics: dict[str, Any]) -> str:
    """A training step's metrics for the log: "reward 0.500, compliance 75.0 %, AF n/a, loss -0.286, step time 1.5 s"."""
    parts = []
    for key, name, kind in _SHOWN:
        if key not in metrics:
            continue
        value = metrics[key]
        text = pct(value) if kind == "rate" else f"{value:.3g}" if isinstance(value, (int, float)) else str(value)
        parts.append(f"{name} {text}{' s' if kind == 'seconds' else ''}")
    return ", ".join(parts)


def list_checkpoints(checkpoints_dir: Path) -> list[Path]:
    """Complete checkpoints `step-<N>` in step order (half-written `checkpoint-<N>` dirs are ignored)."""
    if not checkpoints_dir.is_dir():
        return []
    found = [p for p in checkpoints_dir.iterdir() if p.is_dir() and p.name.startswith(CHECKPOINT_PREFIX)
             and p.name[len(CHECKPOINT_PREFIX):].isdigit()]
    return sorted(found, key=lambda p: int(p.name[len(CHECKPOINT_PREFIX):]))


def checkpoint_step(path: Path) -> int:
    """N of a `step-<N>` directory."""
    return int(path.name[len(CHECKPOINT_PREFIX):])


def remove_partial_checkpoints(checkpoints_dir: Path) -> list[Path]:
    """Delete trainer-named dirs left by a crash during saving; returns what was removed."""
    removed = []
    if checkpoints_dir.is_dir():
        for p in checkpoints_dir.iterdir():
            if p.is_dir() and p.name.startswith(_TRAINER_PREFIX):
                shutil.rmtree(p)
                removed.append(p)
    return removed


class LogCallback(TrainerCallback):
    """Forwards TRL's log dict to RunLogger as `train/<key>` at the current global step."""

    def __init__(self, logger: RunLogger, clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.clock = clock
        self._began: tuple[float, int] | None = None
        """(time, step) when training began or resumed, for the ETA."""

    def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        self._began = (self.clock(), int(state.global_step))

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kw: Any) -> None:
        if not logs:
            return
        if "train_runtime" in logs:
            # The Trainer's end-of-run summary repeats the last step after its row (and checkpoint) was
            # written; metrics.jsonl keeps one row per step, so the summary is only printed.
            print(f"[af-rl] trainer summary: {logs}", flush=True)
            return
        metrics = {}
        for k, v in logs.items():
            if not isinstance(v, (int, float)) or isinstance(v, bool):
                continue
            metrics[k if k.startswith("train/") else f"train/{k}"] = v
        self.logger.log(state.global_step, metrics)
        if "train/reward" in metrics or "train/loss" in metrics:
            print(f"[af-rl] step {state.global_step}/{state.max_steps} {step_brief(metrics)}{self._eta(state)}",
                  flush=True)

    def _eta(self, state: Any) -> str:
        """", ETA 1m10s" from the wall time per step since training began (evaluations included)."""
        if self._began is None:
            return ""
        t0, step0 = self._began
        steps, left = int(state.global_step) - step0, int(state.max_steps) - int(state.global_step)
        if steps <= 0 or left <= 0:
            return ""
        return f", ETA {format_duration((self.clock() - t0) / steps * left)}"


def _test_pause(step: int) -> None:
    """Test-only hook (tests/rl/test_crash_resume.py), inert unless both variables are set: with
    AF_RL_TEST_PAUSE_AFTER_STEP=<step> and AF_RL_TEST_PAUSE_FILE=<path>, once checkpoint step-<step> is
    published the run writes its pid to <path> and waits until <path> is removed, so a test can kill it
    at a known step however fast or loaded the machine is."""
    path = os.environ.get("AF_RL_TEST_PAUSE_FILE")
    if not path or os.environ.get("AF_RL_TEST_PAUSE_AFTER_STEP") != str(step):
        return
    tmp = Path(f"{path}.tmp")
    tmp.write_text(str(os.getpid()))
    tmp.rename(path)  # the pid appears whole
    while Path(path).exists():
        time.sleep(0.05)


class CheckpointCallback(TrainerCallback):
    """Publishes each Trainer checkpoint atomically as `step-<N>` with the resolved config beside it.

    The Trainer writes `checkpoint-<N>`; only after it has finished is it renamed, so a crash while
    saving leaves the previous `step-<M>` as the newest usable checkpoint.
    """

    def __init__(self, checkpoints_dir: Path, config_yaml: str, logger: RunLogger, keep: int | None,
                 after_save: Callable[[], None] | None = None) -> None:
        self.dir = checkpoints_dir
        self.config_yaml = config_yaml
        self.logger = logger
        self.keep = keep
        self.after_save = after_save

    def on_save(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        src = self.dir / f"{_TRAINER_PREFIX}{state.global_step}"
        if not src.is_dir():
            return
        (src / CONFIG_FILE).write_text(self.config_yaml, encoding="utf-8")
        # The step's metrics row goes to metrics.jsonl before the checkpoint is published: a crash in
        # between then resumes from the previous checkpoint (the row is dropped and replayed), never
        # from this one without its row.
        self.logger.flush()
        dst = self.dir / f"{CHECKPOINT_PREFIX}{state.global_step}"
        if dst.exists():
            shutil.rmtree(dst)
        src.rename(dst)
        if self.keep:
            for old in list_checkpoints(self.dir)[: -self.keep]:
                shutil.rmtree(old)
        if self.after_save is not None:
            self.after_save()
        _test_pause(state.global_step)


class EvalCallback(TrainerCallback):
    """Runs the two-tier evaluation at step 0 (optional), every `every` steps and at the last step."""

    def __init__(self, evaluate: Callable[[Any, int], None], every: int, at_start: bool, max_steps: int) -> None:
        self.evaluate = evaluate
        self.every = every
        self.at_start = at_start
        self.max_steps = max_steps
        self._done: set[int] = set()

    def _run(self, model: Any, step: int) -> None:
        if step not in self._done:
            self._done.add(step)
            with progress_label(f"eval step {step}"):  # generation inside reports progress under this name
                self.evaluate(model, step)

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any) -> None:
        # On resume global_step is already > 0 here and that step was evaluated before the crash.
        if self.at_start and state.global_step == 0:
            self._run(model, 0)

    def on_step_end(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any) -> None:
        step = state.global_step
        if step >= self.max_steps or (self.every and step % self.every == 0):
            self._run(model, step)
