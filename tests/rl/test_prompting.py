"""Chat-template handling: templates with and without a system role, prefill, BOS de-duplication."""

from __future__ import annotations

from typing import Any

import pytest

from env.config import EnvConfig
from env.episode import Episode
from rl.prompting import render_prompt, resolve_system_role, strip_auto_bos, supports_system_role


class Tok:
    """A stand-in tokenizer whose chat template is plain Python; `system` picks how it treats system turns."""

    bos_token = "<s>"
    bos_token_id = 1

    def __init__(self, system: str = "render", auto_bos: bool = False) -> None:
        self.system, self.auto_bos = system, auto_bos

    def apply_chat_template(self, messages: list[dict[str, str]], tokenize: bool, add_generation_prompt: bool) -> str:
        out = "<s>"
        for m in messages:
            if m["role"] == "system":
                if self.system == "raise":
                    raise ValueError("System role not supported")
                if self.system == "drop":
                    continue
            out += f"[{m['role']}]{m['content']}[/]"
        return out + ("[assistant]" if add_generation_prompt else "")

    def __call__(self, text: str) -> dict[str, Any]:
        return {"input_ids": ([1] if self.auto_bos else []) + [5]}


@pytest.mark.parametrize(
    ("system", "expected"),
    [("render", True), ("raise", False), ("drop", False)],  # Gemma-style raise and silent drop both mean "no"
)
def test_system_role_detection(system: str, expected: bool) -> None:
    assert supports_system_role(Tok(system)) is expected
    assert resolve_system_role(Tok(system), "auto") is expected
    assert resolve_system_role(Tok(system), "fold") is False
    assert resolve_system_role(Tok(system), "native") is True


def test_folded_prompt_carries_the_system_text_in_the_user_turn() -> None:
    ep = Episode(id="q", query="Do the thing.", tier="paid")
    cfg = EnvConfig(prompt="helpful_only_brief_v1")
    native = render_prompt(Tok(), ep, cfg, system_role=True)
    folded = render_prompt(Tok("drop"), ep, cfg, system_role=False)
    assert "[system]" in native and "[system]" not in folded
    user = folded.split("[user]", 1)[1]
    assert "unconditionally helpful" in user and user.index("unconditionally helpful") < user.index("<INPUT>")
    assert "<is_free_tier_user>False</is_free_tier_user>" in folded


def test_no_cot_prefills_output_and_continuations_answer_next() -> None:
    cfg = EnvConfig(prompt="helpful_only_brief_v1")
    ep = Episode(id="q", query="Do the thing.", tier="free", variant="no_cot")
    assert render_prompt(Tok(), ep, cfg).endswith("[assistant]<OUTPUT>")
    ep = Episode(id="q", query="Do the thing.", tier="free")
    text = render_prompt(Tok(), ep, cfg, assistant_turns=["<SCRATCHPAD_REASONING>hm</SCRATCHPAD_REASONING>"])
    assert text.endswith("[assistant]<SCRATCHPAD_REASONING>hm</SCRATCHPAD_REASONING>[/][user]<NEXT/>[/][assistant]")


@pytest.mark.parametrize(
    ("auto_bos", "text", "expected"),
    [
        (True, "<s>[user]x", "[user]x"),  # tokenizer adds BOS itself: drop the template's copy
        (False, "<s>[user]x", "<s>[user]x"),  # tokenizer adds none: keep it
        (True, "[user]x", "[user]x"),  # template has no BOS: nothing to drop
    ],
)
def test_strip_auto_bos(auto_bos: bool, text: str, expected: str) -> None:
    assert strip_auto_bos(Tok(auto_bos=auto_bos), text) == expected
