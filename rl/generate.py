"""Batched sampling with HF transformers, and the paper's multi-turn <NEXT/> continuation.

Used by periodic evaluation during training (and later by checkpoint comparison).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from env.chat import join_turns
from env.prompts import uses_scratchpad
from env.transcript import needs_continuation
from rl.prompting import render_prompt

if TYPE_CHECKING:
    from env.config import EnvConfig
    from env.episode import Episode


def generate_texts(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    *,
    max_new_tokens: int,
    temperature: float,
    batch_size: int,
) -> list[str]:
    """Sample one continuation per prompt (greedy when temperature == 0), special tokens stripped.

    Prompts are already chat-templated text, so the tokenizer adds no special tokens of its own.
    """
    import torch

    device = next(model.parameters()).device
    out: list[str] = []
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    for start in range(0, len(prompts), batch_size):
        batch = list(prompts[start : start + batch_size])
        enc = tokenizer(batch, return_tensors="pt", padding=True, add_special_tokens=False, padding_side="left")
        enc = {k: v.to(device) for k, v in enc.items()}
        sampling: dict[str, Any] = (
            {"do_sample": True, "temperature": temperature, "top_p": 1.0, "top_k": 0}
            if temperature > 0
            else {"do_sample": False}
        )
        with torch.no_grad():
            ids = model.generate(**enc, max_new_tokens=max_new_tokens, pad_token_id=pad_id, **sampling)
        new = ids[:, enc["input_ids"].shape[1] :]
        out.extend(tokenizer.batch_decode(new, skip_special_tokens=True))
    return out


def generate_episodes(
    model: Any,
    tokenizer: Any,
    episodes: Sequence[Episode],
    env_cfg: EnvConfig,
    *,
    system_role: bool,
    max_new_tokens: int,
    temperature: float,
    batch_size: int,
) -> list[str]:
    """The model's completion for each episode, continuing with <NEXT/> up to env_cfg.max_turns turns.

    A turn that ends with closed reasoning but no <OUTPUT> gets the harness's <NEXT/> and another
    turn; the returned completion is the turns joined by the <NEXT/> separator (prefill excluded).
    """
    turns: list[list[str]] = [[] for _ in episodes]
    pending = list(range(len(episodes)))
    for _ in range(env_cfg.max_turns):
        if not pending:
            break
        prompts = [
            render_prompt(tokenizer, episodes[i], env_cfg, system_role=system_role, assistant_turns=turns[i])
            for i in pending
        ]
        texts = generate_texts(
            model, tokenizer, prompts, max_new_tokens=max_new_tokens, temperature=temperature, batch_size=batch_size
        )
        for i, text in zip(pending, texts, strict=True):
            turns[i].append(text)
        pending = [i for i in pending if uses_scratchpad(episodes[i].variant) and needs_continuation(turns[i][-1])]
    return [join_turns(t) for t in turns]
