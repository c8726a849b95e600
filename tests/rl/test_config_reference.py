"""docs/config.md, the config-key reference: in sync with the config models, and no key undocumented."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

import rl.config_reference as ref
from rl.config_reference import COMMAND, OUT, config_keys, field_docs, render


def test_committed_reference_matches_the_models() -> None:
    committed = OUT.read_text(encoding="utf-8") if OUT.exists() else ""
    assert committed == render(), f"docs/config.md is stale: run `{COMMAND}` and commit the result"


def test_every_key_has_a_description() -> None:
    undocumented = [k.path for k in config_keys() if not k.doc]
    assert undocumented == [], f"add a docstring under each of these fields: {undocumented}"


def test_the_keys_people_look_for_are_there() -> None:
    text = OUT.read_text(encoding="utf-8")
    for key, words in [("rl.resume", "newest checkpoint"), ("rl.train_variants", "System-prompt variations"),
                       ("rl.keep_checkpoints", "newest N checkpoints")]:
        entry = text.split(f"- **`{key}`**", 1)
        assert len(entry) == 2, key
        assert words in entry[1].split("\n- ", 1)[0], key


def test_keys_carry_type_default_and_bounds() -> None:
    keys = {k.path: k for k in config_keys()}
    assert len(keys) > 150 and {"stages", "env", "reward", "rl", "sft", "trl", "openrlhf"} <= keys.keys()
    k = keys["rl.max_steps"]
    assert (k.type, k.default, k.bounds, k.doc) == ("int", "20", ">= 1", "Optimizer steps.")
    assert (keys["rl.keep_checkpoints"].type, keys["rl.keep_checkpoints"].default) == ("int | null", "null")
    assert keys["rl.backend"].type == '"trl" | "openrlhf"'
    assert keys["rl.model"].default == "required" and keys["rl.model"].section
    assert keys["reward.rewarded_tiers"].default == '["free"]'


def test_inherited_fields_keep_their_docstrings() -> None:
    # reward.judge is JudgeConfig, whose endpoint fields are declared in env.llm.config.EndpointConfig.
    keys = {k.path: k for k in config_keys()}
    assert keys["reward.judge.base_url"].doc.startswith("Endpoint root")
    assert keys["reward.judge.af_votes"].doc.startswith("Judge samples per transcript")


class _Half(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    documented: int = 1
    """Has one."""
    bare: int = 2


def test_an_undocumented_field_is_caught() -> None:
    assert field_docs(_Half) == {"documented": "Has one."}
    assert [k.path for k in config_keys(_Half) if not k.doc] == ["bare"]


def test_markup_in_docstrings_is_escaped_outside_code() -> None:
    text = render()
    assert "answered with &lt;NEXT/>" in text and "`<run_name>-<k>`" in text


def test_check_flag_reports_a_stale_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "config.md"
    monkeypatch.setattr(ref, "OUT", out)
    out.write_text("old\n", encoding="utf-8")
    assert ref.main(["--check"]) == 1
    assert f"run `{COMMAND}`" in capsys.readouterr().err
    assert ref.main([]) == 0 and out.read_text(encoding="utf-8") == render()
    assert ref.main(["--check"]) == 0
