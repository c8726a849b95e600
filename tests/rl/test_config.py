"""Run configs: every shipped YAML validates; bad keys and values fail with the key named, exit code 2."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from rl.config import ConfigError, RunConfig, apply_overrides, load_config, validate_model_source

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_every_shipped_config_validates(path: Path) -> None:
    cfg = load_config(path)
    assert isinstance(cfg, RunConfig)
    assert cfg.rl.run_name


def test_there_are_configs() -> None:
    assert {"demo_cpu.yaml", "smollm2_cpu.yaml"} <= {p.name for p in CONFIGS}


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        (["reward.paid_teir=1"], "reward.paid_teir: Extra inputs are not permitted"),  # misspelt key
        (["rl.max_steps=0"], "rl.max_steps: Input should be greater than or equal to 1"),  # bound
        (["rl.max_steps=ten"], "rl.max_steps"),  # wrong type
        (["trl.num_generations=3"], "must be a multiple of trl.num_generations (3)"),  # cross-field rule
        (["rl.eval.variants=[default,lab_swapp]"], "lab_swapp"),  # unknown variation named
        (["env.prompt=nope_v9"], "env.prompt"),  # unknown prompt template
        (["rl.model.source=hf"], "rl.model.name_or_path is required"),  # missing companion key
        (["reward.af_classifier=gpt9"], "unknown AF classifier 'gpt9'"),
        (["rl.backend=deepspeed"], "rl.backend"),  # an unknown backend is rejected, not silently ignored
    ],
)
def test_bad_values_name_the_key(overrides: list[str], needle: str) -> None:
    with pytest.raises(ConfigError) as e:
        load_config(ROOT / "configs/demo_cpu.yaml", overrides)
    assert needle in str(e.value)


def test_overrides_are_parsed_as_yaml_and_nested() -> None:
    raw = apply_overrides({"rl": {"eval": {"every": 5}}}, ["rl.eval.every=7", "rl.eval.variants=[a, b]", "x.y=true"])
    assert raw == {"rl": {"eval": {"every": 7, "variants": ["a", "b"]}}, "x": {"y": True}}


@pytest.mark.parametrize("bad", ["novalue", "=3", "a..b=1"])
def test_malformed_override_is_rejected(bad: str) -> None:
    with pytest.raises(ConfigError, match="dotted.key=value"):
        apply_overrides({}, [bad])


def test_override_into_a_value_is_rejected() -> None:
    with pytest.raises(ConfigError, match="rl.max_steps is a value, not a section"):
        apply_overrides({"rl": {"max_steps": 3}}, ["rl.max_steps.x=1"])


def test_missing_model_directory_is_named(tmp_path: Path) -> None:
    cfg = load_config(ROOT / "configs/demo_cpu.yaml",
                      ["rl.model.source=hf", f"rl.model.name_or_path={tmp_path}/no/such/model"])
    with pytest.raises(ConfigError, match="rl.model.name_or_path"):
        validate_model_source(cfg)
    (tmp_path / "empty").mkdir()
    cfg = load_config(ROOT / "configs/demo_cpu.yaml", ["rl.model.source=hf", f"rl.model.name_or_path={tmp_path}/empty"])
    with pytest.raises(ConfigError, match="not a model directory"):
        validate_model_source(cfg)


def test_hub_id_is_accepted_without_network() -> None:
    cfg = load_config(ROOT / "configs/demo_cpu.yaml",
                      ["rl.model.source=hf", "rl.model.name_or_path=Qwen/Qwen2.5-7B-Instruct"])
    validate_model_source(cfg)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--config", "configs/demo_cpu.yaml", "rl.max_stepz=3"], "rl.max_stepz"),
        (["--config", "configs/missing.yaml"], "configs/missing.yaml"),
        (["--config", "configs/demo_cpu.yaml", "env.dataset.source=/nonexistent/q.jsonl"], "/nonexistent/q.jsonl"),
        (["--config", "configs/demo_cpu.yaml", "rl.ray.address=127.0.0.1:1"], "rl.ray.address"),
    ],
)
def test_train_cli_rejects_bad_input_with_exit_2(args: list[str], needle: str) -> None:
    t0 = time.time()
    proc = subprocess.run([sys.executable, "rl/train.py", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert needle in proc.stderr
    if "rl.ray.address" not in needle:
        assert time.time() - t0 < 10  # no model or cluster work before validation
