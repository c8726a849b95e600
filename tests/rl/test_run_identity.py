"""A run directory holds one run: a rerun resumes it only with the config that made it, a finished run does
nothing, rl.resume=false never touches it, and results never go into Ray's temporary copy of the tree."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rl.config import ConfigError, RunConfig, load_config
from rl.rundir import (
    CHANGES_FILE, FINISHED_FILE, RunDirError, check_output_dir, config_differences, mark_finished, may_change,
    open_run_dir, plan_run_dir, ray_working_dir,
)

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "configs" / "demo_cpu.yaml"
JOB_ENV = {"RAY_JOB_CONFIG_JSON_ENV_VAR": json.dumps({"runtime_env": {"working_dir": "gcs://_ray_pkg_0123.zip"},
                                                      "metadata": {}})}
"""What Ray's job supervisor gives a `ray job submit --working-dir .` entrypoint (ray/dashboard/modules/job)."""


def _cfg(tmp: Path, *overrides: str) -> RunConfig:
    return load_config(DEMO, [f"rl.output_dir={tmp / 'runs'}", *overrides])


def _made_run(tmp: Path, *overrides: str, steps: tuple[int, ...] = (10, 20)) -> Path:
    """A run directory as a TRL run leaves it: config.yaml and checkpoints/step-<N>/ with the config inside."""
    cfg = _cfg(tmp, *overrides)
    plan = plan_run_dir(cfg)
    assert plan.state == "new"
    run_dir = open_run_dir(plan)
    for s in steps:
        (run_dir / "checkpoints" / f"step-{s}").mkdir(parents=True)
        (run_dir / "checkpoints" / f"step-{s}" / "config.yaml").write_text((run_dir / "config.yaml").read_text())
    _write_rows(run_dir, max(steps), evaluated=range(0, max(steps) + 1, 5))  # demo: rl.eval.every 5
    return run_dir


def _write_rows(run_dir: Path, last: int, evaluated: range | tuple[int, ...]) -> None:
    """metrics.jsonl as TRL writes it: a row per step, with eval/* keys at the evaluated steps."""
    rows = [{"step": s, "train/reward": 0.5, **({"eval/default/free/compliance": 0.5} if s in evaluated else {})}
            for s in range(last + 1)]
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() if p.is_file() else b"<dir>" for p in sorted(root.rglob("*"))}


# ---- plan_run_dir ---------------------------------------------------------------------------------------


def test_an_absent_or_empty_directory_is_a_new_run_and_planning_writes_nothing(tmp_path: Path) -> None:
    plan = plan_run_dir(_cfg(tmp_path))
    assert (plan.state, plan.run_dir) == ("new", tmp_path / "runs" / "demo_cpu")
    assert not (tmp_path / "runs").exists()
    (tmp_path / "runs" / "demo_cpu").mkdir(parents=True)
    assert plan_run_dir(_cfg(tmp_path)).state == "new"


def test_the_same_config_resumes_from_the_newest_checkpoint(tmp_path: Path) -> None:
    _made_run(tmp_path, "rl.max_steps=30")
    plan = plan_run_dir(_cfg(tmp_path, "rl.max_steps=30"))
    assert (plan.state, plan.step, plan.changes) == ("resume", 20, {})


@pytest.mark.parametrize(("overrides", "expected"), [
    (["reward.compliance_classifier=judge"], ['reward.compliance_classifier: "linear" -> "judge"']),
    (["trl.learning_rate=1e-5", "rl.max_steps=30"], ["trl.learning_rate: 0.001 -> 1e-05"]),  # max_steps may change
    (["rl.ray.num_cpus=1"], ["rl.ray.num_cpus: 2.0 -> 1.0"]),  # the torch thread count: float reduction order
    (["rl.eval.n_queries=10"], ["rl.eval.n_queries: 40 -> 10"]),
    (["rl.seed=1", "env.prompt=helpful_only_v1"],
     ['env.prompt: "helpful_only_brief_v1" -> "helpful_only_v1"', "rl.seed: 0 -> 1"]),
])
def test_a_config_that_decides_other_results_is_refused_naming_keys_and_ways_out(
        tmp_path: Path, overrides: list[str], expected: list[str]) -> None:
    run_dir = _made_run(tmp_path)
    before = _snapshot(tmp_path)
    with pytest.raises(RunDirError) as e:
        plan_run_dir(_cfg(tmp_path, *overrides))
    msg = str(e.value)
    differing = [line.strip() for line in msg.splitlines() if line.startswith("  ")]
    assert differing == expected  # exactly the result-deciding keys, old -> new, in key order
    assert str(run_dir) in msg and "rl.run_name=" in msg and "rl.resume=false" in msg
    assert str(tmp_path / "runs" / "demo_cpu-2") in msg
    assert _snapshot(tmp_path) == before


def test_a_run_saved_before_af_rl_rollouts_resumes_only_as_it_ran(tmp_path: Path) -> None:
    """A config.yaml without trl.rollouts / trl.share_prefix was trained by TRL's own generation: today's
    defaults are a difference to refuse, and asking for the old behaviour resumes it."""
    run_dir = _made_run(tmp_path)
    for path in [run_dir / "config.yaml", *run_dir.glob("checkpoints/*/config.yaml")]:
        saved = yaml.safe_load(path.read_text())
        del saved["trl"]["rollouts"], saved["trl"]["share_prefix"]
        path.write_text(yaml.safe_dump(saved))
    with pytest.raises(RunDirError) as e:
        plan_run_dir(_cfg(tmp_path))
    differing = [line.strip() for line in str(e.value).splitlines() if line.startswith("  ")]
    assert differing == ['trl.rollouts: "trl" -> "engine"', "trl.share_prefix: false -> true"]
    plan = plan_run_dir(_cfg(tmp_path, "trl.rollouts=trl", "trl.share_prefix=false", "rl.max_steps=30"))
    assert (plan.state, plan.step) == ("resume", 20)


def test_max_steps_may_change_to_extend_a_run_and_the_change_is_recorded(tmp_path: Path) -> None:
    run_dir = _made_run(tmp_path)
    plan = plan_run_dir(_cfg(tmp_path, "rl.max_steps=30", "rl.wandb.mode=disabled", "rl.save_every=5"))
    assert plan.state == "resume" and plan.step == 20
    assert plan.changes == {"rl.max_steps": (20, 30), "rl.save_every": (10, 5),
                            "rl.wandb.mode": ("offline", "disabled")}
    open_run_dir(plan)
    saved = load_config(run_dir / "config.yaml")
    assert (saved.rl.max_steps, saved.trl.learning_rate) == (30, 1e-3)
    [entry] = [json.loads(line) for line in (run_dir / CHANGES_FILE).read_text().splitlines()]
    assert entry["changes"] == {"rl.max_steps": [20, 30], "rl.save_every": [10, 5],
                                "rl.wandb.mode": ["offline", "disabled"]}


@pytest.mark.parametrize(("overrides", "needle"), [
    (["trl.lr_scheduler_type=cosine"], "trl.lr_scheduler_type 'cosine'"),
    (["trl.warmup_ratio=0.1"], "trl.warmup_ratio 0.1"),
])
def test_max_steps_decides_results_when_the_schedule_spans_it(tmp_path: Path, overrides: list[str],
                                                               needle: str) -> None:
    _made_run(tmp_path, *overrides)
    assert plan_run_dir(_cfg(tmp_path, *overrides)).state == "finished"  # unchanged: fine
    with pytest.raises(RunDirError) as e:
        plan_run_dir(_cfg(tmp_path, *overrides, "rl.max_steps=30"))
    assert "rl.max_steps: 20 -> 30" in str(e.value) and needle in str(e.value)


def test_a_finished_run_is_finished_until_max_steps_grows(tmp_path: Path) -> None:
    run_dir = _made_run(tmp_path)
    plan = plan_run_dir(_cfg(tmp_path))
    assert plan.state == "finished" and "nothing to do" in plan.note and str(run_dir) in plan.note
    with pytest.raises(ValueError, match="finished"):
        open_run_dir(plan)
    assert plan_run_dir(_cfg(tmp_path, "rl.max_steps=10")).state == "finished"  # already past it
    assert plan_run_dir(_cfg(tmp_path, "rl.max_steps=21")).state == "resume"


def test_the_finished_marker_counts_when_no_checkpoint_reached_max_steps(tmp_path: Path) -> None:
    """OpenRLHF saves every rl.save_every steps, so its last checkpoint may be short of rl.max_steps."""
    run_dir = _made_run(tmp_path, steps=(10,))
    assert plan_run_dir(_cfg(tmp_path)).state == "resume"
    mark_finished(run_dir, _cfg(tmp_path), 10)
    assert json.loads((run_dir / FINISHED_FILE).read_text())["max_steps"] == 20
    assert plan_run_dir(_cfg(tmp_path)).state == "finished"
    assert plan_run_dir(_cfg(tmp_path, "rl.max_steps=25")).state == "resume"


def test_without_a_marker_a_checkpoint_at_max_steps_counts_only_once_its_evaluation_is_complete(
        tmp_path: Path) -> None:
    """A directory without finished.json (an older version's, or an attempt that crashed before writing it):
    OpenRLHF publishes checkpoints/step-N before evaluating it, so a crash there leaves step rl.max_steps
    published but not evaluated; that run is resumed (the restart evaluates it), not taken as finished."""
    run_dir = _made_run(tmp_path)
    _write_rows(run_dir, 20, evaluated=(5, 10, 15))  # step 20 published, its evaluation never logged
    plan = plan_run_dir(_cfg(tmp_path))
    assert (plan.state, plan.step) == ("resume", 20)
    torn = (run_dir / "metrics.jsonl").read_text() + '{"step": 20, "eval/default/fr'  # a row torn mid-write
    (run_dir / "metrics.jsonl").write_text(torn)
    assert plan_run_dir(_cfg(tmp_path)).state == "resume"
    _write_rows(run_dir, 20, evaluated=(5, 10, 15, 20))
    assert plan_run_dir(_cfg(tmp_path)).state == "finished"
    # A row for the step without eval/* keys (a training row) is not an evaluation.
    (run_dir / "metrics.jsonl").write_text(json.dumps({"step": 20, "train/reward": 0.5}) + "\n")
    assert plan_run_dir(_cfg(tmp_path)).state == "resume"


def test_an_older_trl_run_whose_eval_every_does_not_divide_max_steps_is_finished(tmp_path: Path) -> None:
    """TRL evaluates the last step whatever rl.eval.every (EvalCallback), before publishing its checkpoint."""
    from rl.backends.trl_callbacks import EvalCallback

    seen: list[int] = []
    cb = EvalCallback(lambda _model, step: seen.append(step), every=7, at_start=True, max_steps=20)
    state = type("State", (), {"global_step": 0})()
    cb.on_train_begin(None, state, None)
    for state.global_step in range(1, 21):
        cb.on_step_end(None, state, None)
    assert seen == [0, 7, 14, 20]
    run_dir = _made_run(tmp_path, "rl.eval.every=7", steps=(10, 20))
    _write_rows(run_dir, 20, evaluated=tuple(seen))
    assert not (run_dir / FINISHED_FILE).exists()
    assert plan_run_dir(_cfg(tmp_path, "rl.eval.every=7")).state == "finished"


def test_resume_false_starts_a_new_run_in_a_fresh_directory(tmp_path: Path) -> None:
    _made_run(tmp_path)
    plan = plan_run_dir(_cfg(tmp_path, "rl.resume=false", "trl.learning_rate=1e-5"))
    assert (plan.state, plan.cfg.rl.run_name, plan.run_dir) == ("new", "demo_cpu-2",
                                                                tmp_path / "runs" / "demo_cpu-2")
    assert str(plan.run_dir) in plan.note
    open_run_dir(plan)
    assert plan_run_dir(_cfg(tmp_path, "rl.resume=false")).cfg.rl.run_name == "demo_cpu-3"
    # The new run resumes under its own name (rl.resume differs from its saved config, and may).
    again = plan_run_dir(_cfg(tmp_path, "rl.run_name=demo_cpu-2", "trl.learning_rate=1e-5"))
    assert (again.state, again.changes) == ("resume", {})


def test_the_newest_checkpoint_config_stands_in_for_a_missing_config_yaml(tmp_path: Path) -> None:
    run_dir = _made_run(tmp_path, "rl.max_steps=30")
    (run_dir / "config.yaml").unlink()
    with pytest.raises(RunDirError, match=r"checkpoints/step-20/config.yaml"):
        plan_run_dir(_cfg(tmp_path, "rl.max_steps=30", "rl.seed=3"))


def test_a_directory_without_any_saved_config_is_started_over(tmp_path: Path) -> None:
    """What a crash before config.yaml was written leaves (tests/rl/test_crash_resume.py plants it too)."""
    run_dir = tmp_path / "runs" / "demo_cpu"
    (run_dir / "checkpoints" / "checkpoint-1").mkdir(parents=True)
    (run_dir / "metrics.jsonl").write_text('{"step": 0}\n')
    plan = plan_run_dir(_cfg(tmp_path))
    assert (plan.state, plan.step) == ("resume", None) and "from step 0" in plan.note


@pytest.mark.parametrize("text", ["rl: [unclosed\n", "- a list\n"])
def test_an_unreadable_saved_config_is_refused(tmp_path: Path, text: str) -> None:
    run_dir = _made_run(tmp_path)
    (run_dir / "config.yaml").write_text(text)
    with pytest.raises(RunDirError, match="saved config"):
        plan_run_dir(_cfg(tmp_path))


def test_a_saved_config_from_another_version_is_compared_as_written(tmp_path: Path) -> None:
    run_dir = _made_run(tmp_path)
    saved = (run_dir / "config.yaml").read_text()
    (run_dir / "config.yaml").write_text(saved.replace("rl:\n", "rl:\n  retired_knob: 3\n", 1))
    with pytest.raises(RunDirError) as e:
        plan_run_dir(_cfg(tmp_path))
    assert "rl.retired_knob: 3 -> (absent)" in str(e.value)


def test_differences_and_allowed_keys() -> None:
    old = {"rl": {"max_steps": 20, "wandb": {"mode": "offline"}, "eval": {"variants": ["default"]}}}
    new = {"rl": {"max_steps": 30, "wandb": {"mode": "online"}, "eval": {"variants": ["default", "lab_swap"]}}}
    assert config_differences(old, new) == {"rl.eval.variants": (["default"], ["default", "lab_swap"]),
                                            "rl.max_steps": (20, 30), "rl.wandb.mode": ("offline", "online")}
    assert [k for k in config_differences(old, new) if not may_change(k)] == ["rl.eval.variants"]
    # near misses: a prefix of an allowed key, and a sibling of an allowed section
    assert not may_change("rl.max_steps_extra") and not may_change("rl.ray.num_gpus") and may_change("rl.wandb.entity")


# ---- Ray working directory ------------------------------------------------------------------------------


def test_ray_working_dir_is_detected_from_the_path_or_the_job_environment(tmp_path: Path) -> None:
    copy = Path("/tmp/ray/session_2024-01-01_00-00-00_1/runtime_resources/working_dir_files/_ray_pkg_ab12")
    assert ray_working_dir(copy, {}) == copy
    assert ray_working_dir(copy / "sub", {}) == copy
    assert ray_working_dir(tmp_path, JOB_ENV) == tmp_path
    assert ray_working_dir(tmp_path, {}) is None
    assert ray_working_dir(tmp_path, {"RAY_JOB_ID": "01000000"}) is None  # set in every Ray worker: no sign of a job
    no_dir = {"RAY_JOB_CONFIG_JSON_ENV_VAR": json.dumps({"runtime_env": {}})}  # a job submitted without one
    assert ray_working_dir(tmp_path, no_dir) is None


@pytest.mark.parametrize(("value", "refused"), [
    ("runs", True), ("./runs", True), ("{cwd}/runs", True), ("{other}/runs", False), ("~/runs", False)])
def test_output_dir_inside_a_ray_working_dir_is_refused(tmp_path: Path, value: str, refused: bool) -> None:
    cwd = tmp_path / "runtime_resources" / "working_dir_files" / "_ray_pkg_1"
    cwd.mkdir(parents=True)
    value = value.format(cwd=cwd, other=tmp_path / "elsewhere")
    if refused:
        with pytest.raises(ConfigError) as e:
            check_output_dir(value, "rl.output_dir", cwd=cwd, environ={})
        assert f"rl.output_dir {value!r}" in str(e.value) and "rl.output_dir=$PWD/runs" in str(e.value)
        assert str(cwd) in str(e.value)
    else:
        check_output_dir(value, "rl.output_dir", cwd=cwd, environ={})
    check_output_dir(value, "rl.output_dir", cwd=tmp_path, environ={})  # not in a Ray job: anything goes


# ---- rl/train.py and rl.compare, as users run them (they stop before Ray: seconds) ---------------------


NO_RAY = "rl.ray.address=127.0.0.1:1"
"""Nothing listens there: should a check regress and let the run through, it stops at once (exit 2 naming
rl.ray.address) instead of starting Ray. rl.ray.address may differ from the saved config."""


def _train(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k != "RAY_JOB_CONFIG_JSON_ENV_VAR"}
    full_env.update({"WANDB_MODE": "disabled", **(env or {})})
    return subprocess.run([sys.executable, str(ROOT / "rl" / "train.py"), "--config", str(DEMO), *args], cwd=cwd,
                          env=full_env, capture_output=True, text=True, timeout=120)


def test_train_refuses_a_changed_config_under_an_existing_run_name(tmp_path: Path) -> None:
    run_dir = _made_run(tmp_path)
    before = _snapshot(tmp_path)
    proc = _train(tmp_path, f"rl.output_dir={tmp_path / 'runs'}", "reward.compliance_classifier=judge", NO_RAY)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.startswith("error: ") and str(run_dir) in proc.stderr
    assert 'reward.compliance_classifier: "linear" -> "judge"' in proc.stderr
    assert "rl.run_name=" in proc.stderr and "rl.resume=false" in proc.stderr
    assert _snapshot(tmp_path) == before


def test_train_on_a_finished_run_says_so_and_writes_nothing(tmp_path: Path) -> None:
    run_dir = _made_run(tmp_path)
    before = _snapshot(tmp_path)
    proc = _train(tmp_path, f"rl.output_dir={tmp_path / 'runs'}", NO_RAY)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "is finished (reached step 20, rl.max_steps is 20): nothing to do" in proc.stdout
    assert f"run directory : {run_dir}" in proc.stdout
    ckpts = run_dir / "checkpoints"
    assert f"checkpoints   : {ckpts / 'step-10'}, {ckpts / 'step-20'}" in proc.stdout
    assert "step 21" not in proc.stdout
    assert _snapshot(tmp_path) == before


def test_train_under_a_ray_job_refuses_a_relative_output_dir(tmp_path: Path) -> None:
    proc = _train(tmp_path, "rl.output_dir=runs", NO_RAY, env=JOB_ENV)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "rl.output_dir 'runs'" in proc.stderr and "rl.output_dir=$PWD/runs" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_compare_under_a_ray_job_refuses_a_relative_out(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text('{"model_type": "llama"}')
    (model / "model.safetensors").write_bytes(b"\0")
    proc = subprocess.run([sys.executable, "-m", "rl.compare", "--checkpoints", str(model), "--out", "cmp"],
                          cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT), **JOB_ENV},
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "--out 'cmp'" in proc.stderr and "--out $PWD/compare/NAME" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
