"""Run configs: every shipped YAML validates; bad keys and values fail with the key named, exit code 2."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from rl.config import (
    ConfigError, RunConfig, apply_overrides, config_to_yaml, load_config, validate_model_source,
)

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))


def _leaves(tree: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for k, v in tree.items():
        out.update(_leaves(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_every_shipped_config_validates(path: Path) -> None:
    """It loads, every value it writes is the value the run uses (none dropped, renamed or coerced into
    something else), it survives the round trip through the config.yaml a run saves, and its runs get a
    directory of their own (rl.run_name is the file's name, so two configs never resume each other's runs)."""
    cfg = load_config(path)
    used = _leaves(cfg.model_dump(mode="json"))
    written = _leaves(yaml.safe_load(path.read_text(encoding="utf-8")))
    assert {k: (v, used.get(k, "<missing>")) for k, v in written.items() if used.get(k, "<missing>") != v} == {}
    assert RunConfig.model_validate(yaml.safe_load(config_to_yaml(cfg))) == cfg
    assert cfg.rl.run_name == path.stem


def test_there_are_configs() -> None:
    assert {"demo_cpu.yaml", "smollm2_cpu.yaml"} <= {p.name for p in CONFIGS}


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        (["reward.paid_teir=1"], "reward.paid_teir: unknown key"),  # misspelt key
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


def test_hub_id_resolves_from_the_local_cache_else_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No network: offline, a hub id is accepted only when the local HF cache has it (tests/rl/test_missing_models.py
    covers an unreachable hub)."""
    from huggingface_hub import constants

    from tests.rl.test_missing_models import fake_hf_cache

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(fake_hf_cache(tmp_path, "Qwen/Qwen2.5-7B-Instruct")))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    cfg = load_config(ROOT / "configs/demo_cpu.yaml",
                      ["rl.model.source=hf", "rl.model.name_or_path=Qwen/Qwen2.5-7B-Instruct"])
    validate_model_source(cfg)
    cfg = load_config(ROOT / "configs/demo_cpu.yaml",
                      ["rl.model.source=hf", "rl.model.name_or_path=Qwen/Qwen2.5-70B-Instruct"])
    with pytest.raises(ConfigError, match=r"rl.model.name_or_path: 'Qwen/Qwen2.5-70B-Instruct': not a local path .* "
                                          r"not in the local HF cache"):
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
def test_train_cli_rejects_bad_input_with_exit_2(args: list[str], needle: str, tmp_path: Path) -> None:
    t0 = time.time()
    # Runs under tmp: a finished demo under the checkout's runs/ would (rightly) make the last case exit 0.
    proc = subprocess.run([sys.executable, "rl/train.py", *args, f"rl.output_dir={tmp_path}"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert needle in proc.stderr
    if "rl.ray.address" not in needle:
        assert time.time() - t0 < 10  # no model or cluster work before validation
