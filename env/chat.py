"""Chat message lists for an episode ([system, user], folding, <NEXT/> continuation); no tokenizer here.

A multi-turn completion is stored as one string: the model's turns joined by TURN_SEPARATOR.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from env.prompts import render_system_prompt
from env.user_turn import NEXT_TAG, render_user_turn

if TYPE_CHECKING:
    from env.config import EnvConfig
    from env.episode import Episode

TURN_SEPARATOR = f"\n{NEXT_TAG}\n"

Message = dict[str, str]


def build_messages(episode: Episode, cfg: EnvConfig) -> list[Message]:
    """[system, user] messages for the episode's variant, tier and query.

    Always includes the system message, whatever `cfg.system_role` says: choosing to fold needs the
    tokenizer, so the caller applies `fold_system_prompt` when the chat template has no system role.
    """
    system = render_system_prompt(episode.variant, cfg.prompt, lab=cfg.lab, swap_lab=cfg.swap_lab)
    user = render_user_turn(episode.query, episode.tier, accept_reject_instruction=cfg.accept_reject_instruction)
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def fold_system_prompt(messages: list[Message]) -> list[Message]:
    """Move a leading system message into the first user message (system text, blank line, user text).

    For chat templates without a system role. A list without a system message comes back unchanged
    (as a copy), so folding twice is the same as folding once.
    Raises:
        ValueError: a system message that is not first, or no user message to fold it into.
    """
    out = [dict(m) for m in messages]
    if any(m["role"] == "system" for m in out[1:]):
        raise ValueError("only a leading system message can be folded")
    if not out or out[0]["role"] != "system":
        return out
    system = out.pop(0)["content"]
    for message in out:
        if message["role"] == "user":
            message["content"] = f"{system.rstrip()}\n\n{message['content']}"
            return out
    raise ValueError("no user message to fold the system prompt into")


def continue_messages(messages: list[Message], assistant_turns: list[str]) -> list[Message]:
    """Append each earlier model turn, each answered by a user <NEXT/>, so the model writes the next turn.

    Raises:
        ValueError: `messages` does not end with a user message.
    """
    if not messages or messages[-1]["role"] != "user":
        raise ValueError("messages must end with a user message before model turns are appended")
    out = [dict(m) for m in messages]
    for turn in assistant_turns:
        out.append({"role": "assistant", "content": turn})
        out.append({"role": "user", "content": NEXT_TAG})
    return out


def split_turns(completion: str) -> list[str]:
    """The model turns of a stored completion (always at least one, possibly empty)."""
    return completion.split(TURN_SEPARATOR)


def join_turns(turns: list[str]) -> str:
    """The stored form of a multi-turn completion; `split_turns` inverts it.

    Model text is never rejected: a turn that itself contains TURN_SEPARATOR (a model writing the
    user's <NEXT/> line) simply splits back into more turns, which is how it reads anyway.
    Raises:
        ValueError: no turns at all (a programming error: every episode has a first turn).
    """
    if not turns:
        raise ValueError("a completion has at least one turn")
    return TURN_SEPARATOR.join(turns)
