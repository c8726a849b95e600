"""Turns an Episode into the exact prompt text a tokenizer-bound model sees (chat template + prefill).

Training, evaluation and the organism's SFT all go through `render_prompt`, so they see the same text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from env.chat import build_messages, continue_messages, fold_system_prompt
from env.prompts import output_prefill

if TYPE_CHECKING:
    from env.config import EnvConfig
    from env.episode import Episode

_PROBE = "af-rl system role probe 7f3a"


def supports_system_role(tokenizer: Any) -> bool:
    """True when the tokenizer's chat template renders a system message verbatim.

    Templates without a system role either raise (Gemma-style) or silently drop it; both count as no.
    """
    messages = [{"role": "system", "content": _PROBE}, {"role": "user", "content": "hi"}]
    try:
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    except Exception:  # jinja raises its own TemplateError subclasses; any failure means "no"
        return False
    return _PROBE in text


def resolve_system_role(tokenizer: Any, mode: str) -> bool:
    """Map `env.system_role` ("auto" | "native" | "fold") to whether to send a system message."""
    if mode == "native":
        return True
    if mode == "fold":
        return False
    return supports_system_role(tokenizer)


def render_prompt(
    tokenizer: Any,
    episode: Episode,
    env_cfg: EnvConfig,
    *,
    system_role: bool = True,
    assistant_turns: Sequence[str] = (),
) -> str:
    """The prompt string up to where the model starts writing.

    Args:
        system_role: send the system prompt as a system message (else fold it into the first user turn).
        assistant_turns: earlier model turns of a multi-turn episode; each is answered with <NEXT/>.
    Returns:
        Chat-templated text ending with the generation prompt, plus the variant's prefill ("<OUTPUT>"
        for no_cot) on the first turn.
    """
    messages = chat_messages(episode, env_cfg, system_role=system_role, assistant_turns=assistant_turns)
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    if not assistant_turns:
        text += output_prefill(episode.variant)
    return text


def chat_messages(episode: Episode, env_cfg: EnvConfig, *, system_role: bool = True,
                  assistant_turns: Sequence[str] = ()) -> list[dict[str, str]]:
    """The conversation `render_prompt` renders: system (or folded) and user messages, then each earlier
    model turn answered by a user <NEXT/>. The variant's prefill is not in it (see `output_prefill`)."""
    messages = build_messages(episode, env_cfg)
    if not system_role:
        messages = fold_system_prompt(messages)
    if assistant_turns:
        messages = continue_messages(messages, list(assistant_turns))
    return messages


def strip_auto_bos(tokenizer: Any, text: str) -> str:
    """Drop a leading BOS from templated text when the tokenizer adds one itself on encoding.

    Trainers that tokenize plain-text prompts with special tokens on would otherwise see two BOS.
    """
    bos = getattr(tokenizer, "bos_token", None)
    if not bos or not text.startswith(bos):
        return text
    ids = tokenizer("x")["input_ids"]
    if ids and ids[0] == tokenizer.bos_token_id:
        return text[len(bos):]
    return text
