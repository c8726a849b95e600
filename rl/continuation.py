"""The paper's <NEXT/> continuation: when the harness answers a turn, and with what text.

One decision and one piece of template text, shared by every loop that continues conversations:
evaluation and `rl.compare` (rl/generate.py, over text engines), TRL training rollouts
(rl/backends/trl_rollout.py, over token ids) and OpenRLHF's agent (rl/backends/openrlhf/agent.py, inside
OpenRLHF's own loop). A turn that reasons in a closed scratchpad and opens no <OUTPUT> gets a user
<NEXT/> and another turn, up to `env.max_turns` turns, unless the turn was cut by its token budget.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, Sequence

from env.chat import join_turns
from env.prompts import uses_scratchpad
from env.transcript import needs_continuation
from rl.prompting import render_prompt

if TYPE_CHECKING:
    from env.config import EnvConfig
    from env.episode import Episode
    from rl.engines.hf import Generated

log = logging.getLogger(__name__)
_warned: set[str] = set()

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


@dataclass
class TokenConversation:
    """One episode's turns in token ids, as a trainer consumes it (rl.continuation.continue_in_tokens)."""

    prompt_ids: list[int]
    completion_ids: list[int] = field(default_factory=list)
    """Every turn's tokens and, between turns, the template's <NEXT/> text, in order."""
    model_mask: list[int] = field(default_factory=list)
    """1 for tokens the model generated, 0 for the harness's text between turns (no loss there)."""
    logprobs: list[float] = field(default_factory=list)
    """The sampling log-probability of each model token; 0.0 for the harness's tokens."""
    turns: list[str] = field(default_factory=list)
    """Each turn's text (special tokens stripped), as evaluation stores it."""
    stopped: bool = False
    """The last turn ended on a stop token (False: cut by the token budget)."""

    @property
    def text(self) -> str:
        """The completion as rewards and transcripts read it: the turns joined by the <NEXT/> separator."""
        return join_turns(self.turns)


class TokenGenerator(Protocol):
    """Generation from token ids (rl.engines.hf.HFEngine.generate_ids has this signature)."""

    def generate_ids(self, prompts: Sequence[Sequence[int]], *, max_new_tokens: int, temperature: float,
                     seeds: Sequence[int]) -> list[Generated]: ...


def continue_in_tokens(generator: TokenGenerator, tokenizer: Any, episodes: Sequence[Episode],
                       prompt_ids: Sequence[Sequence[int]], env_cfg: EnvConfig, *, system_role: bool,
                       max_completion_tokens: int, temperature: float,
                       seeds: Sequence[int]) -> list[TokenConversation]:
    """Generate each episode's turns from its prompt's token ids, continuing with <NEXT/> as evaluation does.

    Unlike evaluation (which renders the whole conversation as text and tokenizes it again), the next
    turn's prompt is the ids so far: the prompt, the model's own tokens as sampled (stop token included),
    then the tokenized `feedback_text`. That is what the trainer scores, token for token. The turns and
    the feedback between them share `max_completion_tokens`; a conversation with no token left for
    another turn ends as it stands (reasoning only is then malformed, as a cut single turn is).

    Args:
        seeds: one sampling seed per episode; turn t of episode i samples from its own stream, derived
            from seeds[i] and t, whatever else is in the batch.
    """
    convs = [TokenConversation(prompt_ids=list(p)) for p in prompt_ids]
    pending = list(range(len(convs)))
    for turn in range(env_cfg.max_turns):
        if not pending:
            break
        outs = generator.generate_ids(
            [convs[i].prompt_ids + convs[i].completion_ids for i in pending],
            max_new_tokens=max(max_completion_tokens - len(convs[i].completion_ids) for i in pending),
            temperature=temperature,
            seeds=[turn_seed(seeds[i], turn) for i in pending])
        still: list[int] = []
        for i, out in zip(pending, outs, strict=True):
            conv = convs[i]
            room = max_completion_tokens - len(conv.completion_ids)
            ids, lps = out.ids[:room], out.logprobs[:room]
            conv.completion_ids += ids
            conv.model_mask += [1] * len(ids)
            conv.logprobs += [float(x) for x in lps]
            conv.stopped = out.stopped and len(ids) == len(out.ids)
            conv.turns.append(tokenizer.decode(ids, skip_special_tokens=True))
            if not wants_next_turn(episodes[i].variant, conv.turns, env_cfg.max_turns, cut=not conv.stopped):
                continue
            try:
                text = feedback_text(tokenizer, episodes[i], env_cfg, system_role=system_role, turns=conv.turns,
                                     stop_token_id=ids[-1] if ids else None)
            except ValueError as e:  # a template that drops the turn: the conversation ends as it stands
                _warn_once(str(e))
                continue
            feedback = tokenizer(text, add_special_tokens=False)["input_ids"]
            if len(conv.completion_ids) + len(feedback) >= max_completion_tokens:
                continue  # no token left for another turn
            conv.completion_ids += feedback
            conv.model_mask += [0] * len(feedback)
            conv.logprobs += [0.0] * len(feedback)
            still.append(i)
        pending = still
    return convs


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        log.warning("af-rl rollouts: %s; such a conversation ends at that turn", message)


def turn_seed(seed: int, turn: int) -> int:
    """The sampling seed of turn `turn` of a conversation seeded `seed` (turn 0 keeps `seed`)."""
    if turn == 0:
        return seed
    digest = hashlib.blake2b(f"{seed}:turn{turn}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1
