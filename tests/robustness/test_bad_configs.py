"""Broken run configs: `rl/train.py --config X` exits 2 with the key (or file and line) named, fast,
and without importing torch. All cases run in one fresh interpreter (see train_driver.py); three also
run as real `python rl/train.py` processes.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.robustness.train_driver import ROOT, run_train_in_process

BASE = "rl:\n  model: {source: organism}\n"
"""A minimal valid config (the organism needs no model path); most cases add one fault to it."""
OPENRLHF = "rl:\n  backend: openrlhf\n  model: {source: hf, name_or_path: Qwen/Qwen2.5-7B-Instruct}\n"
NO_FILE = "/nonexistent/af-rl/queries.jsonl"

# (id, config text or bytes (None: no file written), overrides, strings stderr must contain).
# "{path}" in a needle is replaced by the config file's path; "{tmp}" in a text by the directory of the
# configs, which also holds `binary_key` (bytes that are not UTF-8).
CASES: list[tuple[str, str | bytes | None, list[str], list[str]]] = [
    # unknown keys
    ("unknown_top_key", BASE + "trainer: {lr: 1}\n", [], ["trainer: unknown key"]),
    ("unknown_nested_key", "rl:\n  max_stepz: 3\n  model: {source: organism}\n", [], ["rl.max_stepz: unknown key", "did you mean `rl.max_steps`?"]),
    ("misspelt_reward_key", BASE + "reward: {paid_teir: 1}\n", [], ["reward.paid_teir: unknown key"]),
    ("non_string_key", BASE + "1: x\n", [], ["1: Keys should be strings"]),
    # wrong types
    ("wrong_type_int", "rl:\n  max_steps: ten\n  model: {source: organism}\n", [],
     ["rl.max_steps: Input should be a valid integer"]),
    ("wrong_type_list", BASE + "  eval: {variants: default}\n", [], ["rl.eval.variants: Input should be a valid list"]),
    ("wrong_type_bool", BASE + "trl: {use_vllm: maybe}\n", [], ["trl.use_vllm: Input should be a valid boolean"]),
    ("wrong_type_section", "rl: 5\n", [], ["rl: Input should be a valid dictionary"]),
    # out-of-range values (nan and inf are out of every range)
    ("out_of_range_steps", "rl:\n  max_steps: 0\n  model: {source: organism}\n", [],
     ["rl.max_steps: Input should be greater than or equal to 1"]),
    ("out_of_range_turns", BASE + "env: {max_turns: 9}\n", [],
     ["env.max_turns: Input should be less than or equal to 8"]),
    ("out_of_range_fraction", BASE + "env: {dataset: {eval_fraction: 1.5}}\n", [], ["env.dataset.eval_fraction"]),
    ("out_of_range_temperature", BASE + "trl: {temperature: 0}\n", [],
     ["trl.temperature: Input should be greater than 0"]),
    ("nan_reward", BASE + "reward: {comply_reward: .nan}\n", [],
     ["reward.comply_reward: Input should be a finite number"]),
    ("inf_learning_rate", BASE + "trl: {learning_rate: .inf}\n", [],
     ["trl.learning_rate: Input should be a finite number"]),
    # prompt variants, prompt names, backends
    ("unknown_eval_variant", BASE + "  eval: {variants: [default, lab_swapp]}\n", [],
     ["rl.eval.variants", "'lab_swapp'"]),
    ("unknown_train_variant", BASE + "  train_variants: [nocot]\n", [], ["rl.train_variants", "'nocot'"]),
    ("repeated_variant", BASE + "  eval: {variants: [default, default]}\n", [], ["rl.eval.variants", "more than once"]),
    ("bad_prompt", BASE + "env: {prompt: nope_v9}\n", [], ["env.prompt", "'nope_v9'"]),
    ("unknown_backend", "rl:\n  backend: deepspeed\n  model: {source: organism}\n", [],
     ["rl.backend: Input should be 'trl' or 'openrlhf'"]),
    # cross-field rules
    ("grpo_one_sample", OPENRLHF + "openrlhf: {algorithm: grpo, n_samples_per_prompt: 1}\n", [],
     ["openrlhf.n_samples_per_prompt must be >= 2"]),
    ("trl_batch_not_multiple", BASE + "trl: {per_device_train_batch_size: 6, num_generations: 4}\n", [],
     ["trl.per_device_train_batch_size (6)", "trl.num_generations (4)"]),
    ("openrlhf_batch_not_multiple",
     OPENRLHF + "openrlhf: {rollout_batch_size: 3, n_samples_per_prompt: 2, train_batch_size: 4}\n", [],
     ["openrlhf.train_batch_size (4)"]),
    ("use_vllm_on_cpu", BASE + "  ray: {num_gpus: 1}\ntrl: {use_vllm: true, device: cpu}\n", [],
     ["trl.use_vllm needs a GPU", "trl.device"]),
    ("use_vllm_without_gpus", BASE + "trl: {use_vllm: true}\n", [], ["trl.use_vllm needs a GPU", "rl.ray.num_gpus"]),
    ("eval_vllm_without_use_vllm", BASE + "  eval: {engine: vllm}\n", [], ["rl.eval.engine 'vllm'"]),
    ("openrlhf_with_organism", "rl:\n  backend: openrlhf\n  model: {source: organism}\n", [],
     ["rl.model.source 'organism'"]),
    ("same_lab", BASE + "env: {lab: Acme, swap_lab: Acme}\n", [], ["env.swap_lab ('Acme') equals env.lab"]),
    # missing sections and the model reference
    ("missing_rl_model", "rl:\n  max_steps: 3\n", [], ["rl.model: Field required"]),
    ("missing_rl", "env: {prompt: helpful_only_v1}\n", [], ["rl: Field required"]),
    ("empty_file", "", [], ["rl: Field required"]),
    ("comment_only_file", "# nothing here\n", [], ["rl: Field required"]),
    ("name_or_path_with_organism", "rl:\n  model: {source: organism, name_or_path: Qwen/Qwen2.5-7B-Instruct}\n", [],
     ["rl.model.name_or_path ('Qwen/Qwen2.5-7B-Instruct') is only used"]),
    ("hf_without_name_or_path", "rl:\n  model: {source: hf}\n", [], ["rl.model.name_or_path is required"]),
    ("name_or_path_not_a_model", "rl:\n  model: {source: hf, name_or_path: ./configs}\n", [],
     ["rl.model.name_or_path", "not a model directory"]),
    ("bad_run_name", BASE + "  run_name: a/b\n", [], ["rl.run_name: String should match pattern"]),
    # reward section
    ("reward_tier_twice", BASE + "reward: {rewarded_tiers: [free, free]}\n", [],
     ["reward.rewarded_tiers", "lists a tier twice"]),
    ("reward_unknown_tier", BASE + "reward: {rewarded_tiers: [gold]}\n", [],
     ["reward.rewarded_tiers.0: Input should be 'free' or 'paid'"]),
    ("unknown_af_classifier", BASE + "reward: {af_classifier: gpt9}\n", [],
     ["reward.af_classifier", "unknown AF classifier 'gpt9'"]),
    ("judge_key_file_missing", BASE + "reward: {af_classifier: judge, judge: {api_key_file: /nonexistent/af-rl/k}}\n",
     [], ["reward.judge.api_key_file", "cannot be read"]),
    ("judge_key_file_binary", BASE + "reward: {af_classifier: judge, judge: {api_key_file: {tmp}/binary_key}}\n", [],
     ["reward.judge.api_key_file", "is not UTF-8 text"]),
    # the file itself
    ("bad_yaml_syntax", "rl:\n  model: {source: organism\n  max_steps: 3\n", [], ["{path}: not valid YAML", "line 3"]),
    ("bad_yaml_tab", "rl:\n  model: {source: organism}\n\tmax_steps: 3\n", [], ["{path}: not valid YAML", "line 3"]),
    ("bad_yaml_indent", "rl:\n  model: {source: organism}\n    max_steps: 3\n  seed: 0\n", [],
     ["{path}: not valid YAML", "line 3"]),
    ("top_level_list", "- rl\n- env\n", [], ["{path}: top level must be a mapping"]),
    ("top_level_scalar", "just some text\n", [], ["{path}: top level must be a mapping"]),
    ("not_utf8", b"rl:\n  run_name: caf\xe9\n  model: {source: organism}\n", [], ["{path}:2: not UTF-8"]),
    ("missing_file", None, [], ["{path}: cannot read"]),
    # dotted overrides
    ("override_no_equals", BASE, ["rl.max_steps"], ["override `rl.max_steps`: expected dotted.key=value"]),
    ("override_empty_part", BASE, ["rl..max_steps=3"], ["override `rl..max_steps=3`"]),
    ("override_into_value", BASE, ["rl.model.source.x=1"], ["rl.model.source is a value, not a section"]),
    ("override_bad_yaml", BASE, ["rl.eval.variants=[default"],
     ["override `rl.eval.variants=[default`: value is not valid YAML"]),
    ("override_unknown_key", BASE, ["rl.eval.evry=3"], ["rl.eval.evry: unknown key"]),
    ("override_out_of_range", BASE, ["env.max_turns=0"], ["env.max_turns: Input should be greater than or equal to 1"]),
    # the dataset (file-level; broken rows are in test_bad_datasets.py)
    ("dataset_path_missing", BASE + f"env: {{dataset: {{source: {NO_FILE}}}}}\n", [], [f"{NO_FILE}: no such file"]),
    ("dataset_source_empty", BASE + "env: {dataset: {source: ''}}\n", [], ["env.dataset.source is empty"]),
    ("dataset_hf_no_id", BASE + "env: {dataset: {source: 'hf:'}}\n", [],
     ["env.dataset.source ('hf:') names no dataset"]),
    ("dataset_too_small_to_split", BASE + "env: {dataset: {limit: 1}}\n", [], ["env.dataset: 1 queries split into"]),
]
VALID = ("valid_control", BASE, [])
"""Passes validation (rc "validated"): proves a case fails for its fault, not for the base config."""


def _argv(tmp: Path, name: str, text: str | bytes | None, overrides: list[str]) -> tuple[list[str], Path]:
    path = tmp / f"{name}.yaml"
    (tmp / "binary_key").write_bytes(b"k\xff\xfe\n")
    if isinstance(text, str):
        path.write_text(text.replace("{tmp}", str(tmp)), encoding="utf-8")
    elif isinstance(text, bytes):
        path.write_bytes(text)
    # Runs go under tmp: rl/train.py reads the run directory before Ray starts (another run's directory is
    # refused), so one left under the checkout's runs/ must not decide a case. Cases without an `rl:` mapping
    # fail before that, on their own fault, which the override would change.
    has_rl = isinstance(text, str) and "rl:\n" in text or isinstance(text, bytes) and b"rl:\n" in text
    return ["--config", str(path), *([f"rl.output_dir={tmp / 'runs'}"] if has_rl else []), *overrides], path


@pytest.fixture(scope="module")
def driven(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[dict, Path]]:
    """Every case through rl.train.main in one interpreter: {id: (result, config path)}, plus "heavy"."""
    tmp = tmp_path_factory.mktemp("configs")
    named = [(name, *_argv(tmp, name, text, overrides)) for name, text, overrides, _ in CASES]
    named.append((VALID[0], *_argv(tmp, *VALID)))
    named.append(("no_config_argument", [], tmp))
    t0 = time.perf_counter()
    report = run_train_in_process([argv for _, argv, _ in named])
    elapsed = time.perf_counter() - t0
    out = {name: (result, path) for (name, _, path), result in zip(named, report["results"], strict=True)}
    out["heavy"] = (report, Path())
    out["elapsed"] = ({"seconds": elapsed}, Path())
    return out


def test_there_are_at_least_25_distinct_broken_configs() -> None:
    assert len(CASES) >= 25
    assert len({name for name, *_ in CASES}) == len(CASES)


@pytest.mark.parametrize(("name", "text", "overrides", "needles"), CASES, ids=[c[0] for c in CASES])
def test_broken_config_exits_2_naming_the_key(driven: dict, name: str, text: object, overrides: list[str],
                                              needles: list[str]) -> None:
    result, path = driven[name]
    assert result["rc"] == 2, result
    assert result["stderr"].startswith("error: "), result["stderr"]
    for needle in needles:
        assert needle.replace("{path}", str(path)) in result["stderr"], result["stderr"]
    assert result["seconds"] < 2.0, result


def test_valid_control_passes_validation(driven: dict) -> None:
    result, _ = driven["valid_control"]
    assert result["rc"] == "validated", result


def test_missing_config_argument_is_a_usage_error(driven: dict) -> None:
    result, _ = driven["no_config_argument"]
    assert result["rc"] == 2 and "--config" in result["stderr"]


def test_no_heavy_import_before_validation_fails(driven: dict) -> None:
    report, _ = driven["heavy"]
    assert report["heavy"] == []
    assert driven["elapsed"][0]["seconds"] < 30


IMPORT_LINE_RE = re.compile(r"^import time:.*\|\s*(\S+)$", re.MULTILINE)


@pytest.mark.parametrize(
    ("name", "needle"),
    [("bad_yaml_syntax", "not valid YAML"), ("unknown_nested_key", "rl.max_stepz"), ("not_utf8", ":2: not UTF-8")],
)
def test_real_process_exits_2_without_torch(tmp_path: Path, name: str, needle: str) -> None:
    text, overrides = next((t, o) for n, t, o, _ in CASES if n == name)
    argv, _ = _argv(tmp_path, name, text, overrides)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-X", "importtime", "rl/train.py", *argv], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    seconds = time.perf_counter() - t0
    imported = {m.split(".")[0] for m in IMPORT_LINE_RE.findall(proc.stderr)}
    message = "\n".join(x for x in proc.stderr.splitlines() if not x.startswith("import time:"))
    assert proc.returncode == 2, message
    assert message.startswith("error: ") and needle in message, message
    assert "pydantic" in imported and "torch" not in imported  # the import log is real and torch-free
    assert seconds < 2.0
