"""Config errors say what to do: the dotted key, where it came from (file:line or the command-line override),
the allowed values, and for an unknown key the nearest known keys. One test per kind of message."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from env.config_errors import ConfigOrigins
from env.yaml_file import yaml_key_lines
from rl.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "configs" / "demo_cpu.yaml"
BASE = "rl:\n  model: {source: organism}\n"


def _error(text: str | None, overrides: list[str], tmp_path: Path) -> tuple[str, Path]:
    """The ConfigError message of loading `text` (None: configs/demo_cpu.yaml) with `overrides`, and the file."""
    path = DEMO
    if text is not None:
        path = tmp_path / "run.yaml"
        path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides)
    return str(info.value), path


def test_unknown_key_from_an_override_names_the_override_not_the_file(tmp_path: Path) -> None:
    msg, path = _error(None, ["rl.max_step=5"], tmp_path)
    assert "rl.max_step: unknown key, from command-line override `rl.max_step=5`; did you mean `rl.max_steps`?" in msg
    assert str(path) not in msg and "Extra inputs" not in msg


def test_unknown_key_in_the_file_names_file_and_line(tmp_path: Path) -> None:
    msg, path = _error(BASE + "  seed: 1\n  max_step: 5\n", [], tmp_path)
    assert f"rl.max_step: unknown key, at {path}:4; did you mean `rl.max_steps`?" in msg


def test_unknown_key_with_nothing_close_lists_the_sections_keys(tmp_path: Path) -> None:
    msg, _ = _error(BASE + "  zzz: 1\n", [], tmp_path)
    assert "rl.zzz: unknown key" in msg
    assert "rl has no key like it; its keys are: backend, run_name, output_dir, seed, max_steps," in msg
    assert "did you mean" not in msg


def test_unknown_key_that_belongs_to_another_section_points_there(tmp_path: Path) -> None:
    # `num_generations` is a trl: key; under rl: nothing is spelt like it.
    msg, _ = _error(None, ["rl.num_generations=4"], tmp_path)
    assert "rl.num_generations: unknown key" in msg and "did you mean `trl.num_generations`?" in msg


def test_override_for_a_section_that_does_not_exist(tmp_path: Path) -> None:
    msg, _ = _error(None, ["trainer.lr=1"], tmp_path)
    assert "trainer: unknown key, from command-line override `trainer.lr=1`" in msg
    assert "the top level has no key like it; its keys are: stages, env, reward, rl, sft, trl, openrlhf" in msg
    msg, _ = _error(None, ["rl.modle.source=hf"], tmp_path)
    assert "rl.modle: unknown key, from command-line override `rl.modle.source=hf`; did you mean `rl.model`?" in msg


def test_wrong_type_names_key_value_and_line(tmp_path: Path) -> None:
    msg, path = _error(BASE + "  max_steps: ten\n", [], tmp_path)
    assert f"rl.max_steps: Input should be a valid integer, unable to parse string as an integer (got 'ten'), at {path}:3" in msg


def test_wrong_boolean_says_true_or_false(tmp_path: Path) -> None:
    msg, _ = _error(None, ["trl.use_vllm=maybe"], tmp_path)
    assert "trl.use_vllm: Input should be a valid boolean" in msg
    assert "(got 'maybe'), from command-line override `trl.use_vllm=maybe`; use true or false" in msg


def test_out_of_range_from_an_override_wins_over_the_files_value(tmp_path: Path) -> None:
    # The file sets max_steps on line 3, the override replaces it: the override is what is wrong.
    msg, path = _error(BASE + "  max_steps: 3\n", ["rl.max_steps=0"], tmp_path)
    assert ("rl.max_steps: Input should be greater than or equal to 1 (got 0), from command-line override "
            "`rl.max_steps=0`") in msg
    assert f"{path}:3" not in msg


def test_bad_literal_lists_the_allowed_values(tmp_path: Path) -> None:
    msg, path = _error("rl:\n  backend: deepspeed\n  model: {source: organism}\n", [], tmp_path)
    assert f"rl.backend: Input should be 'trl' or 'openrlhf' (got 'deepspeed'), at {path}:2" in msg


def test_bad_list_item_points_at_its_line(tmp_path: Path) -> None:
    msg, path = _error(BASE + "  train_tiers:\n    - free\n    - gold\n", [], tmp_path)
    assert f"rl.train_tiers.1: Input should be 'free' or 'paid' (got 'gold'), at {path}:5" in msg


def test_missing_key_says_which_section_to_add_it_to(tmp_path: Path) -> None:
    msg, path = _error("env: {}\nrl:\n  max_steps: 3\n", [], tmp_path)
    assert f"rl.model: Field required; add it to the `rl:` section at {path}:2" in msg


def test_every_problem_is_reported_with_its_own_origin(tmp_path: Path) -> None:
    msg, path = _error(BASE + "env: {max_turns: 9}\n", ["rl.max_step=5"], tmp_path)
    assert msg.startswith("invalid config (2 problems)\n")
    assert f"env.max_turns: Input should be less than or equal to 8 (got 9), at {path}:3" in msg
    assert "rl.max_step: unknown key, from command-line override `rl.max_step=5`" in msg


@pytest.mark.parametrize(("override", "needle"), [
    ("rl.max_steps", "command-line override `rl.max_steps`: expected dotted.key=value, e.g. rl.max_steps=VALUE"),
    ("rl..max_steps=3", "command-line override `rl..max_steps=3`: expected dotted.key=value, e.g. rl.max_steps=5"),
    ("=3", "command-line override `=3`: expected dotted.key=value"),
])
def test_override_without_equals_or_with_empty_parts(tmp_path: Path, override: str, needle: str) -> None:
    msg, _ = _error(None, [override], tmp_path)
    assert needle in msg


def test_override_below_a_value_in_the_file(tmp_path: Path) -> None:
    msg, _ = _error(None, ["rl.model.source.x=1"], tmp_path)
    assert ("command-line override `rl.model.source.x=1`: rl.model.source is a value, not a section (it is "
            "'organism'), so it has no key `x`; set it as rl.model.source=VALUE") in msg


def test_override_below_a_value_the_file_leaves_out(tmp_path: Path) -> None:
    # demo_cpu.yaml has no rl.keep_checkpoints, so the override makes it a mapping; validation says why not.
    msg, _ = _error(None, ["rl.keep_checkpoints.x=1"], tmp_path)
    assert "rl.keep_checkpoints: Input should be a valid integer" in msg
    assert ("from command-line override `rl.keep_checkpoints.x=1`; rl.keep_checkpoints is a value, not a section: "
            "set it as rl.keep_checkpoints=VALUE") in msg


def test_yaml_key_lines_covers_block_and_flow_style(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("rl:\n  model: {source: organism}\n  eval:\n    variants:\n      - default\n      - no_cot\n"
                    "env: {dataset: {limit: 3}}\n", encoding="utf-8")
    lines = yaml_key_lines(path)
    assert lines[("rl",)] == 1 and lines[("rl", "model", "source")] == 2 and lines[("rl", "eval")] == 3
    assert lines[("rl", "eval", "variants", "1")] == 6 and lines[("env", "dataset", "limit")] == 7
    path.write_text("rl: [unclosed\n", encoding="utf-8")
    assert yaml_key_lines(path) == {}


def test_origin_prefers_the_last_override() -> None:
    o = ConfigOrigins(file="f.yaml", lines={("rl",): 1, ("rl", "seed"): 2}, overrides=["rl.seed=1", "rl=5"])
    assert o.origin(["rl", "seed"]) == "from command-line override `rl=5`"
    assert o.origin(["env", "prompt"]) == "in f.yaml"
    assert ConfigOrigins(file="f.yaml", lines={("rl",): 1}).origin(["rl", "seed"]) == "at f.yaml:1"


def test_compare_settings_get_the_same_messages(tmp_path: Path) -> None:
    from rl.evaluation.settings import load_settings

    with pytest.raises(ConfigError) as info:
        load_settings(None, [], n_queries=0, overrides=["rl.eval.temprature=1"])
    msg = str(info.value)
    assert "rl.eval.n_queries: Input should be greater than or equal to 1 (got 0), from `--n-queries 0`" in msg
    assert ("rl.eval.temprature: unknown key, from command-line override `rl.eval.temprature=1`; did you mean "
            "`rl.eval.temperature`?") in msg
    path = tmp_path / "s.yaml"
    path.write_text("env:\n  promt: x\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(f"env.promt: unknown key, at {path}:2; did you mean `env.prompt`?")):
        load_settings(str(path), [])


@pytest.mark.parametrize("text", ["reward:\n  seed: 1\n  af_clasifier: rules\n", "seed: 1\naf_clasifier: rules\n"])
def test_reward_classify_config_gets_the_same_messages(tmp_path: Path, text: str) -> None:
    from reward.classify import load_reward_config

    path = tmp_path / "r.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError) as info:
        load_reward_config(str(path), {"af_threshold": 1.5})
    msg = str(info.value)
    line = 3 if text.startswith("reward:") else 2
    assert f"reward.af_clasifier: unknown key, at {path}:{line}; did you mean `reward.af_classifier`" in msg
    assert "reward.af_threshold: Input should be less than or equal to 1 (got 1.5), from the command line" in msg


def test_facts_file_suggests_the_nearest_key(tmp_path: Path) -> None:
    from env.docs.facts import FactsError, load_facts

    path = tmp_path / "f.yaml"
    path.write_text("name: t\nlab: Lab\nuniverse_contxt: A world.\n", encoding="utf-8")
    with pytest.raises(FactsError, match="universe_contxt: unknown key .*; did you mean `universe_context`"):
        load_facts(path)


IMPORT_LINE_RE = re.compile(r"^import time:.*\|\s*(\S+)$", re.MULTILINE)


@pytest.mark.parametrize("where", ["override", "file"])
def test_train_as_a_user_runs_it(tmp_path: Path, where: str) -> None:
    """`python rl/train.py --config ... rl.max_step=5` (or the same typo in a file) exits 2 before Ray is
    imported, naming where the key came from and the key meant."""
    if where == "override":
        argv = ["--config", "configs/demo_cpu.yaml", "rl.max_step=5"]
        needle = "rl.max_step: unknown key, from command-line override `rl.max_step=5`; did you mean `rl.max_steps`?"
    else:
        path = tmp_path / "typo.yaml"
        path.write_text(DEMO.read_text(encoding="utf-8").replace("  max_steps:", "  max_step:"), encoding="utf-8")
        line = next(i for i, x in enumerate(path.read_text().splitlines(), 1) if x.startswith("  max_step:"))
        argv = ["--config", str(path)]
        needle = f"rl.max_step: unknown key, at {path}:{line}; did you mean `rl.max_steps`?"
    proc = subprocess.run([sys.executable, "-X", "importtime", "rl/train.py", *argv], cwd=ROOT, check=False,
                          capture_output=True, text=True, timeout=120)
    imported = {m.split(".")[0] for m in IMPORT_LINE_RE.findall(proc.stderr)}
    message = "\n".join(x for x in proc.stderr.splitlines() if not x.startswith("import time:"))
    assert proc.returncode == 2, message
    assert message.startswith("error: invalid config (1 problem)") and needle in message, message
    assert "pydantic" in imported and "ray" not in imported  # the import log is real, and Ray never started
