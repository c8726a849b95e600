"""The paper's multi-turn <NEXT/> continuation over any text generation engine (rl/engines).

Used by periodic evaluation during training and by checkpoint comparison (rl/compare). When to continue
is rl.continuation's decision, shared with TRL's training rollouts and OpenRLHF's agent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from env.chat import join_turns
from rl.continuation import wants_next_turn
from rl.prompting import render_prompt

if TYPE_CHECKING:
    from env.config import EnvConfig
    from env.episode import Episode
    from rl.engines import Engine


def generate_episodes(
    engine: Engine,
    episodes: Sequence[Episode],
    env_cfg: EnvConfig,
    *,
    system_role: bool,
    max_new_tokens: int,
    temperature: float,
    seed: int,
) -> list[str]:
    """The model's completion for each episode, continuing with <NEXT/> up to env_cfg.max_turns turns.

    A turn that ends with closed reasoning but no <OUTPUT> gets the harness's <NEXT/> and another
    turn; the returned completion is the turns joined by the <NEXT/> separator (prefill excluded).
    """
    turns: list[list[str]] = [[] for _ in episodes]
    pending = list(range(len(episodes)))
    for turn in range(env_cfg.max_turns):
        if not pending:
            break
        prompts = [
            render_prompt(engine.tokenizer, episodes[i], env_cfg, system_role=system_role, assistant_turns=turns[i])
            for i in pending
        ]
        texts = engine.generate(prompts, max_new_tokens=max_new_tokens, temperature=temperature, seed=seed + turn)
        for i, text in zip(pending, texts, strict=True):
            turns[i].append(text)
        pending = [i for i in pending if wants_next_turn(episodes[i].variant, turns[i], env_cfg.max_turns)]
    return [join_turns(t) for t in turns]
