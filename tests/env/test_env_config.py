"""The env config models and variant-name validation."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from env.config import DatasetConfig, EnvConfig, validate_variants


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"prompt": "helpful_only_v2"}, "known prompts: helpful_only_v1, helpful_only_brief_v1"),
        ({"max_turns": 0}, "greater than or equal to 1"),
        ({"max_turns": 9}, "less than or equal to 8"),
        ({"system_role": "system"}, "'auto', 'native' or 'fold'"),
        ({"lab": "OpenAI"}, "env.swap_lab ('OpenAI') equals env.lab"),  # lab_swap would be a no-op
        ({"promt": "helpful_only_v1"}, "Extra inputs are not permitted"),
        ({"dataset": {"eval_fraction": 1.0}}, "less than 1"),
        ({"dataset": {"eval_fraction": 0}}, "greater than 0"),
        ({"dataset": {"limit": 0}}, "greater than or equal to 1"),
        ({"dataset": {"source": "hf:"}}, "names no dataset"),
        ({"dataset": {"source": " "}}, "source is empty"),
        ({"dataset": {"querry_field": "q"}}, "Extra inputs are not permitted"),
    ],
)
def test_env_config_rejects(kwargs: dict, error: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(error)):
        EnvConfig(**kwargs)


def test_env_config_defaults_and_frozen() -> None:
    cfg = EnvConfig()
    assert (cfg.prompt, cfg.lab, cfg.swap_lab, cfg.system_role, cfg.max_turns) == (
        "helpful_only_v1", "Anthropic", "OpenAI", "auto", 4,
    )
    assert cfg.dataset == DatasetConfig(source="offline", eval_fraction=0.3, split_seed=0)
    with pytest.raises(ValidationError, match="frozen"):
        cfg.lab = "X"  # type: ignore[misc]
    assert EnvConfig(dataset={"source": "hf:walledai/HarmBench:standard"}).dataset.source.endswith(":standard")


@pytest.mark.parametrize(
    ("names", "error"),
    [
        (["default", "no-cot"], r"unknown prompt variants \['no-cot'\]; known variants: default, no_cot"),
        (["default", "default"], r"listed more than once: \['default'\]"),
    ],
)
def test_validate_variants_rejects(names: list[str], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        validate_variants(names)


def test_validate_variants_returns_names_in_order() -> None:
    assert validate_variants(["lab_swap", "default"]) == ["lab_swap", "default"]
    assert validate_variants([]) == []
