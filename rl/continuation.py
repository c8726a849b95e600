"""The paper's <NEXT/> continuation: when the harness answers a turn, and with what text.

One decision and one piece of template text, shared by every loop that continues conversations:
evaluation and `rl.compare` (rl/generate.py, over text engines), TRL training rollouts
(rl/backends/trl_rollout.py, over token ids) and OpenRLHF's agent (rl/backends/openrlhf/agent.py, inside
OpenRLHF's own loop). A turn that reasons in a closed scratchpad and opens no <OUTPUT> gets a user
<NEXT/> and another turn, up to `env.max_turns` turns, unless the turn was cut by its token budget.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from env.prompts import uses_scratchpad
from env.transcript import needs_continuation
from rl.prompting import render_prompt

if TYPE_CHECKING:
    from env.config import EnvConfig
    from env.episode import Episode

SENTINEL = "AfRlTurnEnd7f3a"
"""Stands for the model's last turn when rendering the template, to cut out what follows it (no
whitespace, so templates that trim message content leave it whole)."""


def wants_next_turn(variant: str, turns: Sequence[str], max_turns: int, *, cut: bool = False) -> bool:
    """Whether the harness answers the latest turn with <NEXT/>.

    Args:
        variant: the episode's prompt variation (no_cot has no scratchpad, so never continues).
        turns: the model's turns so far (at least one).
        max_turns: env.max_turns.
        cut: the latest turn stopped at its token budget rather than at an end-of-turn token (reasoning
            cut right after a closing tag is not a finished turn).
    """
    return (bool(turns) and not cut and len(turns) < max_turns and uses_scratchpad(variant)
            and needs_continuation(turns[-1]))


def feedback_text(tokenizer: Any, episode: Episode, env_cfg: EnvConfig, *, system_role: bool,
                  turns: Sequence[str], stop_token_id: int | None = None) -> str:
    """The template's text from the end of the model's latest turn to the next generation prompt.

    Rendered with rl.prompting.render_prompt (so it is the text evaluation's continuation prompt has
    there), with the latest turn's content replaced by a sentinel. When the turn's token ids end with
    `stop_token_id`, a special token the text starts with (the end-of-turn token generation stopped on,
    which is in the ids but not in the decoded text), it is left out, so it is not there twice.

    Raises:
        ValueError: the chat template drops or rewrites the model's turn, so no text follows it.
    """
    text = render_prompt(tokenizer, episode, env_cfg, system_role=system_role,
                         assistant_turns=[*turns[:-1], SENTINEL])
    at = text.rfind(SENTINEL)
    if at < 0:
        raise ValueError("the chat template dropped the model's turn; cannot continue with <NEXT/>")
    tail = text[at + len(SENTINEL):]
    if stop_token_id is not None and tokenizer.decode([stop_token_id], skip_special_tokens=True) == "":
        stop = tokenizer.decode([stop_token_id], skip_special_tokens=False)
        if stop and tail.startswith(stop):
            tail = tail[len(stop):]
    return tail
