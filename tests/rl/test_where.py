"""`python -m rl.where`: every evaluated step per variation, None rates as n/a, the gap with its interval;
a run directory without a run is an error (exit 2) naming the path."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rl.where import eval_table, main

ROOT = Path(__file__).resolve().parents[2]
CONFIG = str(ROOT / "configs" / "demo_cpu.yaml")


def _eval_row(step: int, v: str, free: float | None, paid: float | None, af_free: float | None,
              af_paid: float | None, gap: tuple[float, float, float] | None) -> dict:
    g = gap or (None, None, None)
    return {f"eval/{v}/free/compliance": free, f"eval/{v}/paid/compliance": paid, f"eval/{v}/free/af_rate": af_free,
            f"eval/{v}/paid/af_rate": af_paid, f"eval/{v}/compliance_gap": g[0],
            f"eval/{v}/compliance_gap_lo": g[1], f"eval/{v}/compliance_gap_hi": g[2], "step": step}


ROWS = [
    {**_eval_row(0, "default", 0.325, 0.075, 0.225, None, (0.25, 0.075, 0.4123)),
     **_eval_row(0, "lab_swap", 0.5, 0.5, 0.0, 1.0, (0.0, -0.2, 0.2))},
    {"step": 1, "train/reward": 0.5},  # a training step without evaluation: not in the table
    {**_eval_row(5, "default", 0.9, 0.2, None, None, (0.7, 0.5, 0.8)),
     **_eval_row(5, "lab_swap", None, None, None, None, None)},  # nothing judged in lab_swap
    {"step": 6, "train/reward": 0.7},
    {**_eval_row(10, "default", 1.0, 0.0, 0.1, 0.0, (1.0, 0.9, 1.0)),
     **_eval_row(10, "lab_swap", 0.75, 0.25, 0.5, 0.0, (0.5, 0.3, 0.65))},
]


def _write_run(root: Path, rows: list[dict]) -> Path:
    run = root / "demo_cpu"
    run.mkdir(parents=True)
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return run


def test_table_has_every_evaluated_step_with_intervals_and_na() -> None:
    # rl.compare's columns and rl.numbers' texts; counts the metrics rows do not hold (n, malformed) are n/a
    assert eval_table(ROWS, "default").splitlines() == [
        "| step | compliance free | compliance paid | gap [95 % CI] | AF free | AF paid | malformed free / paid "
        "| n free / paid | failed free / paid |",
        "|---|---|---|---|---|---|---|---|---|",
        "| 0 | 32.5 % | 7.5 % | +25.0 pp [+7.5, +41.2] | 22.5 % | n/a | n/a / n/a | n/a / n/a | n/a / n/a |",
        "| 5 | 90.0 % | 20.0 % | +70.0 pp [+50.0, +80.0] | n/a | n/a | n/a / n/a | n/a / n/a | n/a / n/a |",
        "| 10 | 100.0 % | 0.0 % | +100.0 pp [+90.0, +100.0] | 10.0 % | 0.0 % | n/a / n/a | n/a / n/a | n/a / n/a |",
    ]
    assert eval_table(ROWS, "lab_swap").splitlines()[2:] == [
        "| 0 | 50.0 % | 50.0 % | +0.0 pp [-20.0, +20.0] | 0.0 % | 100.0 % | n/a / n/a | n/a / n/a | n/a / n/a |",
        "| 5 | n/a | n/a | n/a | n/a | n/a | n/a / n/a | n/a / n/a | n/a / n/a |",
        "| 10 | 75.0 % | 25.0 % | +50.0 pp [+30.0, +65.0] | 50.0 % | 0.0 % | n/a / n/a | n/a / n/a | n/a / n/a |",
    ]


def test_table_shows_malformed_share_counts_and_failures() -> None:
    row = {**_eval_row(0, "no_cot", 0.025, 0.0, None, None, (0.025, -0.05, 0.13)),
           **{f"eval/no_cot/{t}/{k}": v for t, kv in (("free", {"malformed": 0.975, "n": 40, "failed": 0}),
                                                      ("paid", {"malformed": 0.96, "n": 39, "failed": 1}))
              for k, v in kv.items()}}
    assert eval_table([row], "no_cot").splitlines()[2] == (
        "| 0 | 2.5 % | 0.0 % | +2.5 pp [-5.0, +13.0] | n/a | n/a | 97.5 % / 96.0 % | 40 / 39 | 0 / 1 |")


def test_where_prints_the_table_of_each_variation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = _write_run(tmp_path, ROWS)
    assert main(["--config", CONFIG, f"rl.output_dir={tmp_path}"]) == 0
    out = capsys.readouterr().out
    assert f"{run / 'metrics.jsonl'} (5 steps logged, 3 evaluated)" in out
    default, lab_swap = out.split("[default]")[1].split("[lab_swap]")
    assert eval_table(ROWS, "default") in default
    assert eval_table(ROWS, "lab_swap") in lab_swap


@pytest.mark.parametrize("make_dir", [False, True], ids=["no directory", "no metrics.jsonl"])
def test_a_missing_run_is_an_error_naming_the_path(tmp_path: Path, make_dir: bool) -> None:
    run = tmp_path / "runs" / "demo_cpu"
    if make_dir:
        run.mkdir(parents=True)
    proc = subprocess.run([sys.executable, "-m", "rl.where", "--config", CONFIG, f"rl.output_dir={tmp_path / 'runs'}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"no run of demo_cpu at {run}" in proc.stderr
    assert "metrics.jsonl" in proc.stderr if make_dir else "does not exist" in proc.stderr
    assert proc.stdout == ""
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == \
        ([Path("runs"), Path("runs/demo_cpu")] if make_dir else [])  # nothing written
