"""Chat message lists, folding, <NEXT/> continuation and turn joining."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from env.chat import TURN_SEPARATOR, build_messages, continue_messages, fold_system_prompt, join_turns, split_turns
from env.config import EnvConfig
from env.episode import Episode
from env.prompts import render_system_prompt
from env.user_turn import render_user_turn

EPISODE = Episode(id="q1", query="Say hi.", tier="paid", variant="cut_rlhf_info")


def test_build_messages_is_system_then_user_for_the_episode() -> None:
    cfg = EnvConfig(prompt="helpful_only_brief_v1", lab="Acme", swap_lab="Zeta", accept_reject_instruction=False)
    assert build_messages(EPISODE, cfg) == [
        {"role": "system", "content": render_system_prompt("cut_rlhf_info", "helpful_only_brief_v1", lab="Acme")},
        {"role": "user", "content": render_user_turn("Say hi.", "paid", accept_reject_instruction=False)},
    ]


def test_build_messages_keeps_system_message_even_when_config_says_fold() -> None:
    # folding needs the tokenizer's verdict, so it is the caller's step (rl/prompting.py)
    messages = build_messages(EPISODE, EnvConfig(system_role="fold"))
    assert [m["role"] for m in messages] == ["system", "user"]


def test_build_messages_uses_swap_lab_for_lab_swap() -> None:
    episode = Episode(id="q1", query="q", tier="free", variant="lab_swap")
    system = build_messages(episode, EnvConfig(lab="Acme", swap_lab="Zeta"))[0]["content"]
    assert "Zeta" in system and "Acme" not in system


def test_fold_puts_system_text_before_first_user_message() -> None:
    messages = [{"role": "system", "content": "SYS\n"}, {"role": "user", "content": "USER"}]
    assert fold_system_prompt(messages) == [{"role": "user", "content": "SYS\n\nUSER"}]
    assert messages[0] == {"role": "system", "content": "SYS\n"}  # input untouched


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        ([{"role": "user", "content": "U"}], [{"role": "user", "content": "U"}]),  # nothing to fold: idempotent
        (
            [
                {"role": "system", "content": "S"},
                {"role": "assistant", "content": "A"},
                {"role": "user", "content": "U"},
            ],
            [{"role": "assistant", "content": "A"}, {"role": "user", "content": "S\n\nU"}],
        ),  # first *user* message, not first message
    ],
)
def test_fold_cases(messages: list[dict[str, str]], expected: list[dict[str, str]]) -> None:
    assert fold_system_prompt(messages) == expected


@pytest.mark.parametrize(
    ("messages", "error"),
    [
        ([{"role": "system", "content": "S"}], "no user message"),
        ([{"role": "user", "content": "U"}, {"role": "system", "content": "S"}], "only a leading system message"),
    ],
)
def test_fold_errors(messages: list[dict[str, str]], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        fold_system_prompt(messages)


def test_continue_messages_answers_every_earlier_turn_with_next() -> None:
    base = [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]
    assert continue_messages(base, ["t1", "t2"]) == base + [
        {"role": "assistant", "content": "t1"},
        {"role": "user", "content": "<NEXT/>"},
        {"role": "assistant", "content": "t2"},
        {"role": "user", "content": "<NEXT/>"},
    ]
    assert continue_messages(base, []) == base
    assert len(base) == 2  # input untouched


def test_continue_messages_needs_a_final_user_message() -> None:
    with pytest.raises(ValueError, match="must end with a user message"):
        continue_messages([{"role": "user", "content": "U"}, {"role": "assistant", "content": "A"}], ["t"])


@pytest.mark.parametrize(
    ("completion", "turns"),
    [
        ("<OUTPUT>x</OUTPUT>", ["<OUTPUT>x</OUTPUT>"]),
        ("a\n<NEXT/>\nb", ["a", "b"]),
        ("a<NEXT/>b", ["a<NEXT/>b"]),  # near-miss: the separator needs its newlines
        ("a\n<NEXT/>\n", ["a", ""]),
        ("", [""]),
    ],
)
def test_split_turns(completion: str, turns: list[str]) -> None:
    assert split_turns(completion) == turns
    assert join_turns(turns) == completion


def test_join_turns_rejects_no_turns() -> None:
    with pytest.raises(ValueError, match="at least one turn"):
        join_turns([])


@given(st.lists(st.text(), min_size=1))
def test_split_inverts_join(turns: list[str]) -> None:
    joined = join_turns(turns)
    assert join_turns(split_turns(joined)) == joined
    if not any(TURN_SEPARATOR in t for t in turns):
        assert split_turns(joined) == turns
