"""run_openrlhf end to end on CPU with a stand-in for OpenRLHF's trainer.

The stand-in is a `python -m openrlhf.cli.train_ppo_ray` that parses our arguments, loads the generated
reward file by path in its own process (as OpenRLHF's rollout actors do) and scores a real prompt from
the dataset, then saves two HF checkpoints the way OpenRLHF does (`<ckpt.path>/global_step<N>_hf`) and
exits; it notes each launch in `launches.jsonl` beside its checkpoints (with the checkpoints it found
there: what a restarted OpenRLHF resumes from), and with $FAKE_OPENRLHF_CRASH_AFTER_STEP=N it exits 1
right after saving step N, as a trainer that crashed there would, leaving its directory as it was. With
$FAKE_OPENRLHF_TORN_STEP=N it writes step N's directory in place and exits 1 before the tokenizer is in it,
as OpenRLHF does when it crashes mid-save (it writes global_step<N>_hf in place, after its DeepSpeed
checkpoint, so a restart resumes after step N and never rewrites that directory: neither does the stand-in).
The files it saves are dated far in the past, so the watcher's stability check (files unchanged for
STABLE_SECONDS) never depends on how fast this machine is.
Everything around it is real: the prompt dataset, the reward file, the checks before launch, the run
directory's plan (new, resume, finished), the checkpoint watcher, the two-tier evaluation on a Ray actor,
samples, metrics.jsonl and finished.json.
"""

from __future__ import annotations

import json
import os
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest

from rl.backends.openrlhf import CheckpointWatcher, build_args, has_model_files, run_openrlhf
from rl.config import RunConfig

pytestmark = pytest.mark.slow

CRASH_ENV = "FAKE_OPENRLHF_CRASH_AFTER_STEP"
TORN_ENV = "FAKE_OPENRLHF_TORN_STEP"
RESOURCES = {"GPU": 8.0, "CPU": 2.0}
"""The GPU count is the cluster's as Ray reports it; this CPU cluster stands in for 8 GPUs."""

FAKE_TRAINER = '''
"""Stand-in for OpenRLHF's train_ppo_ray (tests only)."""
import argparse, importlib.util, json, os, shutil, sys
from pathlib import Path

p = argparse.ArgumentParser()
for flag in FLAGS:
    p.add_argument(flag, nargs="*")
a = vars(p.parse_args())
get = lambda k: a[k.lstrip("-").replace("-", "_")]
ckpt, model = Path(get("ckpt.path")[0]), Path(get("actor.model_name_or_path")[0])
found = [s for s in (1, 2) if (ckpt / f"global_step{s}_hf").exists()]  # a restarted run resumes after these
with (ckpt.parent / "launches.jsonl").open("a") as f:
    f.write(json.dumps({"found": found}) + "\\n")
spec = importlib.util.spec_from_file_location("reward_func", get("reward.remote_url")[0])
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
row = json.loads(Path(get("data.prompt_dataset")[0]).read_text().splitlines()[0])
completion = "<SCRATCHPAD_REASONING>ok</SCRATCHPAD_REASONING><OUTPUT><request_fully_accepted/> [placeholder]</OUTPUT>"
out = mod.reward_func([row["prompt"] + completion], [row["prompt"]], [row["episode"]])
(ckpt.parent / "reward_seen.json").write_text(json.dumps({"reward": float(out["rewards"][0])}))
crash_after = int(os.environ.get("CRASH_ENV", "0"))
torn = int(os.environ.get("TORN_ENV", "0"))
LONG_AGO = 1_000_000_000  # 2001: older than any stability window
for step in (1, 2):
    dst = ckpt / f"global_step{step}_hf"
    if not dst.exists():
        if step == torn:  # in place, config and weights first: the crash comes before the tokenizer
            dst.mkdir(parents=True)
            for f in model.iterdir():
                if not f.name.startswith(("tokenizer", "special_tokens")):
                    shutil.copy2(f, dst / f.name)
            print(f"stand-in trainer: crashing while saving step {step}", file=sys.stderr)
            sys.exit(1)
        # Written aside and renamed: the watcher never sees a half-copied directory, whatever the timing.
        tmp = ckpt / f".saving-{step}"
        shutil.copytree(model, tmp)
        for f in tmp.iterdir():
            os.utime(f, (LONG_AGO, LONG_AGO))
        tmp.rename(dst)
    if step == crash_after:
        print(f"stand-in trainer: crashing after saving step {step}", file=sys.stderr)
        sys.exit(1)
'''.replace("CRASH_ENV", CRASH_ENV).replace("TORN_ENV", TORN_ENV)


def _tiny_model(path: Path) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from env.config import EnvConfig
    from env.datasets import load_queries
    from env.prompts import render_system_prompt
    from rl.organism.tokenizer import train_tokenizer

    corpus = [render_system_prompt("default", "helpful_only_brief_v1")] + [q.text for q in load_queries(
        EnvConfig().dataset)]
    tok = train_tokenizer(corpus, vocab_size=400)
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                                         num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
                                         max_position_embeddings=4096, bos_token_id=tok.bos_token_id,
                                         eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id))
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


def _config(root: Path, model: Path, run_name: str) -> RunConfig:
    return RunConfig.model_validate({
        "env": {"prompt": "helpful_only_brief_v1"},
        "rl": {"backend": "openrlhf", "run_name": run_name, "output_dir": str(root / "runs"), "max_steps": 2,
               "save_every": 1, "model": {"source": "hf", "name_or_path": str(model)},
               "eval": {"variants": ["default", "lab_swap"], "n_queries": 2, "max_new_tokens": 8},
               "wandb": {"mode": "disabled"}},
        "openrlhf": {"rollout_batch_size": 4, "train_batch_size": 4, "eval_gpus": 0},
    })


@dataclass
class Stage:
    root: Path
    model: Path
    source: Path

    def config(self, run_name: str) -> RunConfig:
        return _config(self.root, self.model, run_name)

    def run(self, cfg: RunConfig, lines: list[str]) -> dict[str, Any]:
        def log(line: str) -> None:
            print(line)
            lines.append(line)

        return run_openrlhf(cfg, RESOURCES, log=log, poll_s=0.5, openrlhf_source=self.source)


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stage]:
    """A tiny model, stand-in packages (openrlhf: the trainer above, declaring exactly the flags we pass;
    vllm, deepspeed) and a 2-CPU local Ray cluster, shared by the tests of this module."""
    import ray

    root = tmp_path_factory.mktemp("orl")
    model = _tiny_model(root / "model")
    fake = root / "fake_site"
    flags = sorted({a for a in build_args(_config(root, model, "x"), model="m", prompts=Path("p"), n_prompts=100,
                                          reward_file=Path("r"), ckpt_path=Path("c"), wandb_enabled=False,
                                          agent_file=Path("a"))
                    if a.startswith("--")})
    (fake / "openrlhf" / "cli").mkdir(parents=True)
    (fake / "openrlhf" / "__init__.py").write_text("")
    (fake / "openrlhf" / "cli" / "__init__.py").write_text("")
    (fake / "openrlhf" / "cli" / "train_ppo_ray.py").write_text(
        f"FLAGS = {flags!r}\n" + textwrap.dedent(FAKE_TRAINER))
    for name in ("vllm", "deepspeed"):
        (fake / name).mkdir()
        (fake / name / "__init__.py").write_text("")
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(fake))
        mp.setenv("PYTHONPATH", str(fake))
        mp.delenv(CRASH_ENV, raising=False)
        mp.delenv(TORN_ENV, raising=False)
        ray.init(address="local", num_cpus=2, include_dashboard=False)
        try:
            yield Stage(root, model, _source_with(flags, root / "flag_src"))
        finally:
            ray.shutdown()


def _launches(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "openrlhf" / "launches.jsonl").read_text().splitlines()]


def _rows(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def _evaluated(lines: list[str]) -> list[int]:
    prefix = "evaluated checkpoint step "
    return [int(line[len(prefix):].split(":")[0]) for line in lines if line.startswith(prefix)]


def test_openrlhf_run_evaluates_every_checkpoint_in_both_tiers(stage: Stage) -> None:
    cfg = stage.config("orl")
    run_dir = stage.root / "runs" / "orl"
    lines: list[str] = []
    result = stage.run(cfg, lines)
    assert _evaluated(lines) == [1, 2]
    assert json.loads((run_dir / "finished.json").read_text())["step"] == 2
    metrics_before = (run_dir / "metrics.jsonl").read_text()
    # The same call again: the run is finished, so it returns without launching the trainer or evaluating.
    lines_again: list[str] = []
    again = stage.run(cfg, lines_again)
    assert any("is finished" in line for line in lines_again), lines_again
    assert _evaluated(lines_again) == []
    assert _launches(run_dir) == [{"found": []}]
    assert again["checkpoints"] == result["checkpoints"]
    assert (run_dir / "metrics.jsonl").read_text() == metrics_before

    work = run_dir / "openrlhf"
    assert json.loads((work / "reward_seen.json").read_text()) == {"reward": 1.0}  # free tier, complied
    command = (work / "command.txt").read_text()
    assert "--actor.model_name_or_path" in command
    assert f"--train.agent_func_path {work / 'agent_func.py'}" in command  # env.max_turns 4: <NEXT/> turns
    assert (work / "agent_func.py").exists()
    assert result["checkpoints"] == [str(run_dir / "checkpoints" / "step-1"), str(run_dir / "checkpoints" / "step-2")]
    rows = _rows(run_dir)
    assert [r["step"] for r in rows] == [1, 2]
    for r in rows:
        for v in ("default", "lab_swap"):
            assert r[f"eval/{v}/free/n"] + r[f"eval/{v}/free/failed"] == 2
            assert f"eval/{v}/compliance_gap" in r
    samples = [json.loads(line) for line in (run_dir / "samples" / "step-2.jsonl").read_text().splitlines()]
    assert len(samples) == 8 and {s["step"] for s in samples} == {2}
    assert {(s["episode"]["tier"], s["episode"]["variant"]) for s in samples} == {
        ("free", "default"), ("paid", "default"), ("free", "lab_swap"), ("paid", "lab_swap")}
    assert result["eval_errors"] == []
    # each evaluation redraws the run's plots, as in the TRL path (with W&B on, they go there as images too)
    assert {Path(p).name for p in result["plots"]} >= {"compliance.png", "behaviour_default.png", "summary.png"}


def test_openrlhf_run_restarted_after_a_crash_evaluates_only_what_is_new(
        stage: Stage, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = stage.config("orl-crash")
    run_dir = stage.root / "runs" / "orl-crash"
    samples_1 = run_dir / "samples" / "step-1.jsonl"

    # First attempt: the trainer crashes right after saving step 1.
    monkeypatch.setenv(CRASH_ENV, "1")
    lines: list[str] = []
    with pytest.raises(RuntimeError, match="OpenRLHF exited with code 1"):
        stage.run(cfg, lines)
    assert _evaluated(lines) == [1]  # the watcher's last look after the exit takes what was completely saved
    assert not (run_dir / "finished.json").exists()
    assert sorted(p.name for p in (run_dir / "openrlhf" / "ckpt").iterdir()) == ["global_step1_hf"]
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["step-1"]
    [row_1] = _rows(run_dir)
    assert row_1["step"] == 1
    text_1, stat_1 = samples_1.read_text(), samples_1.stat()
    assert not (run_dir / "samples" / "step-2.jsonl").exists()

    # Second attempt, same config: resumes; step 1 keeps its evaluation, step 2 is evaluated once.
    monkeypatch.delenv(CRASH_ENV)
    lines = []
    result = stage.run(cfg, lines)
    assert any("resuming run 'orl-crash'" in line and "from checkpoint step 1" in line for line in lines), lines
    assert _launches(run_dir) == [{"found": []}, {"found": [1]}]  # OpenRLHF restarted beside its step-1 save
    assert _evaluated(lines) == [2]
    rows = _rows(run_dir)
    assert [r["step"] for r in rows] == [1, 2]
    assert rows[0] == row_1
    assert samples_1.read_text() == text_1
    assert samples_1.stat().st_mtime_ns == stat_1.st_mtime_ns and samples_1.stat().st_ino == stat_1.st_ino
    samples_2 = [json.loads(line) for line in (run_dir / "samples" / "step-2.jsonl").read_text().splitlines()]
    assert len(samples_2) == 8 and {s["step"] for s in samples_2} == {2}
    assert result["checkpoints"] == [str(run_dir / "checkpoints" / f"step-{s}") for s in (1, 2)]
    assert result["eval_errors"] == []
    finished = json.loads((run_dir / "finished.json").read_text())
    assert (finished["step"], finished["max_steps"]) == (2, 2)

    # Third attempt: finished, nothing launched or evaluated.
    metrics = (run_dir / "metrics.jsonl").read_text()
    lines = []
    again = stage.run(cfg, lines)
    assert any("is finished" in line for line in lines), lines
    assert _evaluated(lines) == []
    assert len(_launches(run_dir)) == 2
    assert again["checkpoints"] == result["checkpoints"]
    assert (run_dir / "metrics.jsonl").read_text() == metrics


def _fail_evaluation_at(monkeypatch: pytest.MonkeyPatch, step: int, *, after_samples: bool) -> None:
    """Make the driver's evaluation of `step` stop where a crash or a kill would: before anything is written,
    or right after its samples file (before its metrics row)."""
    import rl.evaluate

    real = rl.evaluate.write_samples

    def write_samples(records: Any, path: Path) -> None:
        if path.name == f"step-{step}.jsonl":
            if after_samples:
                real(records, path)
            raise RuntimeError(f"evaluation of step {step} interrupted (test)")
        real(records, path)

    monkeypatch.setattr(rl.evaluate, "write_samples", write_samples)


def test_a_crash_at_the_last_step_before_its_evaluation_is_not_finished(
        stage: Stage, monkeypatch: pytest.MonkeyPatch) -> None:
    """Step rl.max_steps is published (checkpoints/step-2) before it is evaluated; the trainer crashes and that
    evaluation is lost. The rerun is a resume that evaluates step 2 and writes finished.json, not 'finished'."""
    cfg = stage.config("orl-last")
    run_dir = stage.root / "runs" / "orl-last"
    monkeypatch.setenv(CRASH_ENV, "2")
    _fail_evaluation_at(monkeypatch, 2, after_samples=False)
    lines: list[str] = []
    with pytest.raises(RuntimeError, match="OpenRLHF exited with code 1"):
        stage.run(cfg, lines)
    assert _evaluated(lines) == [1]
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["step-1", "step-2"]
    assert [r["step"] for r in _rows(run_dir)] == [1]
    assert not (run_dir / "finished.json").exists()

    monkeypatch.undo()
    lines = []
    result = stage.run(cfg, lines)
    assert not any("is finished" in line for line in lines), lines
    assert any("resuming run 'orl-last'" in line and "from checkpoint step 2" in line for line in lines), lines
    assert _launches(run_dir) == [{"found": []}, {"found": [1, 2]}]
    assert _evaluated(lines) == [2]
    assert [r["step"] for r in _rows(run_dir)] == [1, 2]
    assert json.loads((run_dir / "finished.json").read_text())["step"] == 2
    assert result["eval_errors"] == []
    lines = []
    stage.run(cfg, lines)
    assert any("is finished" in line for line in lines) and _evaluated(lines) == [], lines


def test_a_checkpoint_torn_by_a_crash_is_never_published(stage: Stage, monkeypatch: pytest.MonkeyPatch) -> None:
    """The trainer crashes while writing global_step1_hf in place: the watcher's look after the crash leaves
    it alone, and so does the restart (which, like OpenRLHF resuming from its DeepSpeed checkpoint, never
    rewrites it); step 2 is published and evaluated."""
    cfg = stage.config("orl-torn")
    run_dir = stage.root / "runs" / "orl-torn"
    monkeypatch.setenv(TORN_ENV, "1")
    lines: list[str] = []
    with pytest.raises(RuntimeError, match="OpenRLHF exited with code 1"):
        stage.run(cfg, lines)
    assert (run_dir / "openrlhf" / "ckpt" / "global_step1_hf" / "config.json").exists()
    assert not (run_dir / "checkpoints" / "step-1").exists()
    assert _evaluated(lines) == [] and not (run_dir / "samples").exists()
    assert any("checkpoint steps [1] are incomplete" in line for line in lines), lines

    monkeypatch.delenv(TORN_ENV)
    lines = []
    result = stage.run(cfg, lines)
    assert _launches(run_dir) == [{"found": []}, {"found": [1]}]
    assert _evaluated(lines) == [2]
    assert any("checkpoint step 1" in line and "lacks files" in line for line in lines), lines
    assert result["checkpoints"] == [str(run_dir / "checkpoints" / "step-2")]
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["step-2"]
    assert [r["step"] for r in _rows(run_dir)] == [2]
    assert result["eval_errors"] == []


def test_a_kill_between_samples_and_metrics_row_is_completed_by_the_restart(
        stage: Stage, monkeypatch: pytest.MonkeyPatch) -> None:
    """The driver dies after writing samples/step-1.jsonl and part of its metrics row: the restart counts
    step 1 as not evaluated (no row), evaluates it again (rewriting the samples) and logs each step once."""
    cfg = stage.config("orl-kill")
    run_dir = stage.root / "runs" / "orl-kill"
    monkeypatch.setenv(CRASH_ENV, "1")
    _fail_evaluation_at(monkeypatch, 1, after_samples=True)
    lines: list[str] = []
    with pytest.raises(RuntimeError, match="OpenRLHF exited with code 1"):
        stage.run(cfg, lines)
    samples_1 = run_dir / "samples" / "step-1.jsonl"
    assert samples_1.exists() and _evaluated(lines) == []
    (samples_1).write_text("stale\n")  # whatever the killed attempt left there is replaced
    with (run_dir / "metrics.jsonl").open("a") as f:
        f.write('{"step": 1, "eval/default/fr')  # the row, torn by the kill while it was written

    monkeypatch.undo()
    lines = []
    result = stage.run(cfg, lines)
    assert _evaluated(lines) == [1, 2]
    rows = _rows(run_dir)
    assert [r["step"] for r in rows] == [1, 2] and all("eval/default/compliance_gap" in r for r in rows)
    samples = [json.loads(line) for line in samples_1.read_text().splitlines()]
    assert len(samples) == 8 and {s["step"] for s in samples} == {1}
    assert result["eval_errors"] == []
    assert json.loads((run_dir / "finished.json").read_text())["step"] == 2


class _Exited:
    """A trainer process that has already exited with `returncode`."""

    def __init__(self, returncode: int) -> None:
        self.returncode = returncode

    def poll(self) -> int:
        return self.returncode


def _saved(path: Path, *, mtime: float | None = None, tokenizer: bool = True) -> Path:
    path.mkdir(parents=True)
    (path / "config.json").write_text("{}")
    (path / "model.safetensors").write_bytes(b"\0")
    if tokenizer:
        (path / "tokenizer_config.json").write_text("{}")
    if mtime is not None:
        for f in path.iterdir():
            os.utime(f, (mtime, mtime))
    return path


@pytest.mark.parametrize(("rc", "published"), [(1, [1]), (0, [1, 3])])
def test_the_last_look_takes_everything_complete_only_after_a_clean_exit(
        tmp_path: Path, rc: int, published: list[int]) -> None:
    """Step 1: complete and unchanged for long; step 2: torn (no tokenizer); step 3: all files, written just
    now (dated in the future: never stable, whatever the clock). After a crash only step 1 passes the normal
    checks; after exit 0 nothing is being written, so step 3 is taken too. Step 2 never is."""
    ckpt = tmp_path / "ckpt"
    _saved(ckpt / "global_step1_hf", mtime=1_000_000_000)
    _saved(ckpt / "global_step2_hf", mtime=1_000_000_000, tokenizer=False)
    _saved(ckpt / "global_step3_hf", mtime=time.time() + 86_400)
    seen: list[int] = []
    lines: list[str] = []
    watcher = CheckpointWatcher(ckpt, tmp_path / "checkpoints", lambda s, p: seen.append(s), stable_s=3600,
                                log=lines.append)
    assert watcher.watch(_Exited(rc), interval_s=0) == rc  # type: ignore[arg-type]
    assert seen == published
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == [f"step-{s}" for s in published]
    assert any("step 2" in line or "[2, 3]" in line for line in lines), lines


def test_a_sharded_checkpoint_needs_every_shard_its_index_names(tmp_path: Path) -> None:
    path = _saved(tmp_path / "global_step1_hf")
    (path / "model.safetensors").rename(path / "model-00001-of-00002.safetensors")
    (path / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {
        "a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}))
    assert not has_model_files(path)
    (path / "model-00002-of-00002.safetensors").write_bytes(b"\0")
    assert has_model_files(path)


def _source_with(flags: list[str], root: Path) -> Path:
    """A train_ppo_ray.py that declares `flags` the way OpenRLHF does (add_argument calls)."""
    path = root / "openrlhf" / "cli" / "train_ppo_ray.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("import argparse\np = argparse.ArgumentParser()\n"
                    + "".join(f"p.add_argument({f!r})\n" for f in flags))
    return path
