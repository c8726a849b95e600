"""The paper's multi-turn <NEXT/> continuation over any text generation engine (rl/engines).

Used by periodic evaluation during training and by checkpoint comparison (rl/compare). When to continue
is rl.continuation's decision, shared with TRL's training rollouts and OpenRLHF's agent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from env.chat import join_turns
from env.progress import GENERATION_ETA_FROM, Progress, current_label
from env.prompts import output_prefill
from rl.continuation import wants_next_turn
from rl.prompting import chat_messages, render_prompt

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
    failures: dict[int, str] | None = None,
) -> list[str]:
    """The model's completion for each episode, continuing with <NEXT/> up to env_cfg.max_turns turns.

    A turn that ends with closed reasoning but no <OUTPUT> gets the harness's <NEXT/> and another
    turn; the returned completion is the turns joined by the <NEXT/> separator (prefill excluded).
    Engines that take messages (`takes_messages`: a chat endpoint) get the conversation and the prefill
    instead of rendered text. An engine may fail an item (`rl.engines.openai.Failed`, an endpoint that
    did not answer): its conversation stops, `failures[index]` says why, and its completion is "" (to be
    counted as failed by the caller, never judged).

    Progress (`env.progress`, labelled by the enclosing `progress_label`) counts transcripts whose first
    turn is done, with the tokens per second of every turn; <NEXT/> turns show as a note, never as more
    transcripts than there are.
    """
    from rl.engines.openai import Failed

    turns: list[list[str]] = [[] for _ in episodes]
    failed: dict[int, str] = {} if failures is None else failures
    pending = list(range(len(episodes)))
    if not episodes:
        return []
    report = Progress(len(episodes), current_label("generating"), "transcripts", eta_from=GENERATION_ETA_FROM)
    hooked = hasattr(engine, "progress")
    previous = getattr(engine, "progress", None)
    for turn in range(env_cfg.max_turns):
        if not pending:
            break
        if turn:
            report.note = f"<NEXT/> turn {turn + 1} for {len(pending)}"
        settings = {"max_new_tokens": max_new_tokens, "temperature": temperature, "seed": seed + turn}
        before = report.done
        if hooked:
            engine.progress = report if turn == 0 else _TokensOnly(report)  # type: ignore[attr-defined]
        try:
            if getattr(engine, "takes_messages", False):
                conversations = [chat_messages(episodes[i], env_cfg, system_role=system_role,
                                               assistant_turns=turns[i]) for i in pending]
                prefills = ["" if turns[i] else output_prefill(episodes[i].variant) for i in pending]
                texts = engine.generate_messages(conversations, prefills, **settings)  # type: ignore[attr-defined]
            else:
                prompts = [render_prompt(engine.tokenizer, episodes[i], env_cfg, system_role=system_role,
                                         assistant_turns=turns[i]) for i in pending]
                texts = engine.generate(prompts, **settings)
        finally:
            if hooked:
                engine.progress = previous  # type: ignore[attr-defined]
        if turn == 0:  # an engine that reports nothing (or not everything) still advances the count
            report.update(len(pending) - (report.done - before))
        for i, text in zip(pending, texts, strict=True):
            if isinstance(text, Failed):
                failed[i] = text.reason
            else:
                turns[i].append(text)
        pending = [i for i in pending if i not in failed and wants_next_turn(episodes[i].variant, turns[i],
                                                                             env_cfg.max_turns)]
    report.close()
    if failed and failures is None:
        raise RuntimeError(f"{len(failed)} of {len(episodes)} generations failed: {next(iter(failed.values()))}")
    return [join_turns(t) if t else "" for t in turns]


class _TokensOnly:
    """Passes an engine's token counts on to the report, but not its finished prompts (a <NEXT/> turn
    finishes no new transcript)."""

    def __init__(self, report: Progress) -> None:
        self.report = report

    def update(self, n: int = 1, *, tokens: int = 0) -> None:
        self.report.update(0, tokens=tokens)
