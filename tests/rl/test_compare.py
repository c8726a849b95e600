"""rl.compare's inputs: what --checkpoints may name, the settings, and bad input named before generation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rl.compare.__main__ import main
from rl.evaluation.checkpoints import CheckpointError, resolve_checkpoints
from rl.evaluation.settings import fingerprint, load_settings, parse_variants
from rl.config import ConfigError


def _model(d: Path, *, weights: str = "model.safetensors", config: dict | None = None) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / "config.json").write_text(json.dumps(config if config is not None else {"model_type": "llama"}))
    if weights:
        (d / weights).write_bytes(b"\0")
    return d


def _adapter(d: Path, base: str | None) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": base, "r": 4}))
    (d / "adapter_model.safetensors").write_bytes(b"\0")
    return d


def _run(root: Path, steps: list[int], prompt: str = "helpful_only_brief_v1") -> Path:
    for s in steps:
        _model(root / "checkpoints" / f"step-{s}")
    (root / "checkpoints" / "checkpoint-99").mkdir()  # a half-written trainer dir is never picked up
    (root / "config.yaml").write_text(f"env:\n  prompt: {prompt}\nrl:\n  model:\n    source: organism\n"
                                      f"  eval:\n    n_queries: 3\n    variants: [default, lab_swap]\n")
    return root


def test_run_directory_expands_to_its_checkpoints_in_step_order(tmp_path: Path) -> None:
    run = _run(tmp_path / "myrun", [10, 2, 1])
    ckpts = resolve_checkpoints([str(run)])
    assert [c.label for c in ckpts] == ["myrun/step-1", "myrun/step-2", "myrun/step-10"]
    assert [c.step for c in ckpts] == [1, 2, 10]
    assert all(c.run_config == str(run / "config.yaml") and c.kind == "model" for c in ckpts)


@pytest.fixture
def hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Offline, with a local HF cache holding HuggingFaceTB/SmolLM2-135M and org/base-model (no network in tests)."""
    from huggingface_hub import constants

    from tests.rl.test_missing_models import fake_hf_cache

    cache = fake_hf_cache(tmp_path / "hf-cache", "HuggingFaceTB/SmolLM2-135M")
    fake_hf_cache(cache, "org/base-model")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return cache


def test_single_checkpoint_model_dir_and_hub_id(tmp_path: Path, hub_cache: Path) -> None:
    run = _run(tmp_path / "r", [5])
    plain = _model(tmp_path / "plain-model")
    ckpts = resolve_checkpoints([str(run / "checkpoints" / "step-5"), str(plain), "HuggingFaceTB/SmolLM2-135M"])
    assert [(c.label, c.kind, c.step) for c in ckpts] == [
        ("r/step-5", "model", 5), ("plain-model", "model", None), ("HuggingFaceTB/SmolLM2-135M", "hub", None)]
    assert ckpts[1].run_config is None


def test_adapter_loads_on_the_base_it_names_or_on_base_model(tmp_path: Path, hub_cache: Path) -> None:
    base = _model(tmp_path / "base")
    other = _model(tmp_path / "other")
    adapter = _adapter(tmp_path / "lora", str(base))
    [c] = resolve_checkpoints([str(adapter)])
    assert (c.kind, c.model, c.adapter) == ("adapter", str(base.resolve()), str(adapter.resolve()))
    [c] = resolve_checkpoints([str(adapter)], base_model=str(other))
    assert c.model == str(other.resolve())
    hub = _adapter(tmp_path / "lora-hub", "org/base-model")
    assert resolve_checkpoints([str(hub)])[0].model == "org/base-model"


@pytest.mark.parametrize(("make", "message"), [
    (lambda t: t / "nope", "no such file or directory"),
    (lambda t: (t / "f.txt").write_text("x") and t / "f.txt", "is a file"),
    (lambda t: (t / "empty").mkdir() or t / "empty", "is not a model"),
    (lambda t: _model(t / "noweights", weights=""), "no weights"),
    (lambda t: (t / "run" / "checkpoints").mkdir(parents=True) or t / "run", "no finished checkpoints"),
    (lambda t: _adapter(t / "lora", None), "without its base model"),
    (lambda t: _adapter(t / "lora", str(t / "gone")), "the adapter's base model"),
    (lambda t: _adapter(t / "lora", str((t / "notmodel").mkdir() or t / "notmodel")), "is not a model directory"),
])
def test_bad_checkpoints_are_named(tmp_path: Path, make, message: str) -> None:
    spec = str(make(tmp_path))
    with pytest.raises(CheckpointError) as err:
        resolve_checkpoints([spec])
    assert message in str(err.value) and spec in str(err.value)


def test_duplicate_labels_are_made_unique(tmp_path: Path) -> None:
    a = _model(tmp_path / "a" / "model")
    b = _model(tmp_path / "b" / "model")
    assert [c.label for c in resolve_checkpoints([str(a), str(b)])] == ["model", "model#2"]
    assert {c.key for c in resolve_checkpoints([str(a), str(b)])} == {"model", "model_2"}


def test_settings_come_from_the_first_run_checkpoint_then_the_command_line(tmp_path: Path) -> None:
    ckpts = resolve_checkpoints([str(_model(tmp_path / "plain")), str(_run(tmp_path / "r", [1]))])
    s = load_settings(None, ckpts)
    assert (s.env.prompt, s.eval.n_queries, s.eval.variants) == ("helpful_only_brief_v1", 3, ["default", "lab_swap"])
    assert s.source == str(tmp_path / "r" / "config.yaml")
    s = load_settings(None, ckpts, variants=["no_cot"], n_queries=7, overrides=["rl.eval.temperature=0"])
    assert (s.eval.variants, s.eval.n_queries, s.eval.temperature) == (["no_cot"], 7, 0.0)
    assert load_settings(None, resolve_checkpoints([str(tmp_path / "plain")])).source == "defaults"


def test_bad_settings_name_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("rl:\n  eval:\n    max_new_tokens: -3\n")
    with pytest.raises(ConfigError, match=r"rl\.eval\.max_new_tokens|max_new_tokens"):
        load_settings(str(bad), [])
    with pytest.raises(ConfigError, match="--variants: unknown prompt variants \\['nope'\\]"):
        parse_variants("default,nope")
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(str(tmp_path / "missing.yaml"), [])


def test_fingerprint_changes_with_what_decides_the_transcripts(tmp_path: Path) -> None:
    [c] = resolve_checkpoints([str(_model(tmp_path / "m"))])
    s = load_settings(None, [c])
    base = fingerprint(s, c, "default", ["a:free"], "hf")
    assert fingerprint(s, c, "default", ["a:free"], "hf") == base
    assert fingerprint(s, c, "lab_swap", ["a:free"], "hf") != base
    assert fingerprint(s, c, "default", ["b:free"], "hf") != base
    assert fingerprint(s, c, "default", ["a:free"], "vllm") != base
    s2 = load_settings(None, [c], overrides=["rl.eval.max_new_tokens=7"])
    assert fingerprint(s2, c, "default", ["a:free"], "hf") != base
    s3 = load_settings(None, [c], overrides=["rl.eval.batch_size=3"])
    assert fingerprint(s3, c, "default", ["a:free"], "hf") == base  # batching doesn't decide what is asked
    (tmp_path / "m" / "model.safetensors").write_bytes(b"\0\1")  # retrained in place
    assert fingerprint(s, c, "default", ["a:free"], "hf") != base


@pytest.mark.parametrize(("args", "message"), [
    (["--checkpoints", "{tmp}/nope"], "no such file or directory"),
    (["--checkpoints", "{run}", "--variants", "default,lab-swap"], "--variants: unknown prompt variants"),
    (["--checkpoints", "{adapter}"], "a LoRA adapter without its base model"),
    (["--checkpoints", "{badcfg}"], "not a transformers model config"),
    (["--checkpoints", "{run}", "rl.eval.temperature=-1"], "rl.eval.temperature"),
    (["--checkpoints", "{run}", "--config", "{tmp}/missing.yaml"], "missing.yaml"),
])
def test_bad_input_exits_2_before_any_generation(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 args: list[str], message: str) -> None:
    paths = {"tmp": tmp_path, "run": _run(tmp_path / "r", [1]), "adapter": _adapter(tmp_path / "lora", None),
             "badcfg": _model(tmp_path / "badcfg", config={"hidden_size": 8})}
    out = tmp_path / "out"
    rc = main([a.format(**paths) for a in args] + ["--out", str(out), "--no-ray"])
    assert rc == 2
    assert message in capsys.readouterr().err
    assert not out.exists()  # nothing was generated or written


def test_wandb_run_gets_the_summary_table_and_plots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--wandb: one offline W&B run with the Table-2 rows and the plots (no transcripts)."""
    from rl.compare.__main__ import log_wandb
    from rl.compare.plots import plot_compare

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    tier = {"compliance": 0.5, "af_rate": 0.25, "refuse": 0.5, "comply_af": 0.25, "comply_no_af": 0.25,
            "partial": 0.0, "malformed": 0.0, "n": 4, "failed": 0}
    rows = [{"checkpoint": c, "variant": "default", "step": s, "free": tier, "paid": {**tier, "compliance": 0.25},
             "compliance_gap": 0.25, "compliance_gap_lo": -0.3, "compliance_gap_hi": 0.7}
            for c, s in (("run/step-1", 1), ("run/step-2", 2))]
    plots = plot_compare(rows, tmp_path / "plots")
    where = log_wandb(tmp_path, rows, plots, "af-rl-test", {"engine": "hf"})
    import wandb

    wandb.teardown()  # stop this process's W&B service; W&B also exports it to the environment, which
    monkeypatch.delenv("WANDB_SERVICE", raising=False)  # later subprocesses (Ray heads) would inherit
    assert where and "wandb" in where
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    [table] = (runs[0] / "files" / "media" / "table" / "compare").glob("summary_*.table.json")
    data = json.loads(table.read_text())
    assert data["columns"][:6] == ["checkpoint", "variant", "step", "af_rate_free", "compliance_free",
                                   "compliance_paid"]
    assert [d[:2] for d in data["data"]] == [["run/step-1", "default"], ["run/step-2", "default"]]
    assert data["data"][0][5] == 0.25
    assert data["columns"][11:] == ["af_rate_paid", "malformed_free", "malformed_paid", "failed_free", "failed_paid"]
    images = {p.name.split("_0_")[0] for p in (runs[0] / "files" / "media" / "images" / "compare" / "plots").iterdir()}
    assert images == {p.stem for p in plots} and "compliance_gap" in images


def test_a_config_that_is_not_utf8_exits_2_naming_the_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from rl.compare.__main__ import main

    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(b"env:\n  lab: Caf\xe9 Labs\n")
    out = tmp_path / "out"
    rc = main(["--checkpoints", str(_model(tmp_path / "m")), "--out", str(out), "--config", str(bad)])
    assert rc == 2
    assert capsys.readouterr().err == f"error: config file {bad}:2: not UTF-8 (byte 0xe9); save it as UTF-8\n"
    assert not out.exists()
