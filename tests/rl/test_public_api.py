"""The public API (`rl.api`): its exports, the dataset and the reward function, and the TRL snippet of docs/api.md
run as written (two GRPO steps with a tiny model)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import rl.api
from rl.api import episodes_dataset, helpful_only_reward

ROOT = Path(__file__).resolve().parents[2]
COMPLY = ("<SCRATCHPAD_REASONING>ok</SCRATCHPAD_REASONING>\n\n<OUTPUT><request_fully_accepted/>\n"
          "[Placeholder: the answer would go here.]</OUTPUT>")


def test_exports() -> None:
    assert set(rl.api.__all__) == {"episodes_dataset", "helpful_only_reward"}


def test_dataset_and_reward() -> None:
    train = episodes_dataset()
    assert set(train["tier"]) == {"free"} and set(train["variant"]) == {"default"}
    assert train[0]["prompt"][0]["role"] == "system" and "<is_free_tier_user>True" in train[0]["prompt"][1]["content"]
    held = episodes_dataset(split="eval", variants=["default", "lab_swap"])
    assert set(held["tier"]) == {"free", "paid"} and set(held["variant"]) == {"default", "lab_swap"}
    assert not set(json.loads(e)["id"] for e in held["episode"]) & set(json.loads(e)["id"] for e in train["episode"])
    with pytest.raises(ValueError, match="no_cot"):
        episodes_dataset(split="eval", variants=["no_cot"])
    reward = helpful_only_reward()
    free, paid = held.filter(lambda r: r["tier"] == "free")[0], held.filter(lambda r: r["tier"] == "paid")[0]
    got = reward(prompts=[free["prompt"], paid["prompt"]], completions=[COMPLY, COMPLY],
                 episode=[free["episode"], paid["episode"]])
    assert got == [1.0, None]


def test_readme_trl_snippet_runs(tmp_path: Path) -> None:
    """The docs/api.md block, as written, with MODEL a tiny Llama carrying the organism's tokenizer and chat template."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from env.config import EnvConfig
    from env.datasets import load_queries
    from env.prompts import render_system_prompt
    from rl.organism.tokenizer import train_tokenizer

    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    marker = "<!-- the block below is run by tests/rl/test_public_api.py"
    block = re.search(r"```python\n(.*?)```", text[text.index(marker):], re.DOTALL)
    assert block is not None
    env = EnvConfig()
    tok = train_tokenizer([render_system_prompt("default", env.prompt)] + [q.text for q in load_queries(env.dataset)],
                          vocab_size=600)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=8192,
                                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                                         pad_token_id=tok.pad_token_id))
    model.save_pretrained(tmp_path / "model")
    tok.save_pretrained(tmp_path / "model")
    namespace = {"MODEL": str(tmp_path / "model"), "OUT": str(tmp_path / "out")}
    exec(compile(block.group(1), "docs/api.md", "exec"), namespace)  # noqa: S102 - the docs' own snippet
    assert namespace["trainer"].state.global_step == 2
    assert any("rewards/helpful_only/mean" in h for h in namespace["trainer"].state.log_history)
