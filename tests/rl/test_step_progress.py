"""Training progress through the TRL callbacks: a line per step with its ETA, and evaluations labelled by step."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from env.progress import current_label
from rl.backends.trl_callbacks import EvalCallback, LogCallback


class _Logger:
    def __init__(self) -> None:
        self.rows: list[tuple[int, dict[str, Any]]] = []

    def log(self, step: int, metrics: dict[str, Any]) -> None:
        self.rows.append((step, metrics))


def test_each_step_line_has_reward_compliance_and_eta(capsys: pytest.CaptureFixture[str]) -> None:
    now = [50.0]
    cb = LogCallback(_Logger(), clock=lambda: now[0])  # type: ignore[arg-type]
    cb.on_train_begin(None, SimpleNamespace(global_step=0, max_steps=10), None)
    now[0] += 10
    cb.on_log(None, SimpleNamespace(global_step=2, max_steps=10), None, logs={"reward": 0.5, "compliance": 0.75})
    # 10 s for 2 steps: 8 steps left take 40 s
    assert capsys.readouterr().out.strip() == "[af-rl] step 2/10 reward 0.5, compliance 75.0 %, ETA 40s"
    now[0] += 40
    cb.on_log(None, SimpleNamespace(global_step=10, max_steps=10), None, logs={"reward": 1.0})
    assert capsys.readouterr().out.strip() == "[af-rl] step 10/10 reward 1"  # nothing left: no ETA


def test_step_line_reads_rates_in_percent_and_undefined_as_na() -> None:
    from rl.backends.trl_callbacks import step_brief

    line = step_brief({"train/reward": 0.203, "train/compliance": 0.234, "train/af_rate": float("nan"),
                       "train/format_ok": 1, "train/loss": -0.0965, "train/step_time": 2.11, "train/other": 3})
    assert line == "reward 0.203, compliance 23.4 %, AF n/a, format ok 100.0 %, loss -0.0965, step time 2.11 s"


def test_resumed_training_counts_its_rate_from_the_resumed_step(capsys: pytest.CaptureFixture[str]) -> None:
    now = [0.0]
    cb = LogCallback(_Logger(), clock=lambda: now[0])  # type: ignore[arg-type]
    cb.on_train_begin(None, SimpleNamespace(global_step=10, max_steps=20), None)
    now[0] += 30
    cb.on_log(None, SimpleNamespace(global_step=11, max_steps=20), None, logs={"loss": 0.25})
    assert capsys.readouterr().out.strip().endswith("loss 0.25, ETA 4m30s")  # 30 s a step, 9 left


def test_evaluation_runs_under_its_step_label() -> None:
    seen: list[str] = []
    cb = EvalCallback(lambda model, step: seen.append(current_label("none")), every=5, at_start=True, max_steps=10)
    cb.on_train_begin(None, SimpleNamespace(global_step=0), None)
    cb.on_step_end(None, SimpleNamespace(global_step=5), None)
    assert seen == ["eval step 0", "eval step 5"]
    assert current_label("none") == "none"
