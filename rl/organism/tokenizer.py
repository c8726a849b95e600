"""The organism's tokenizer: a small byte-level BPE trained on its own prompts and transcripts.

Wrapped as a transformers PreTrainedTokenizerFast with the chat template in chat_template.jinja.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from env.user_turn import ACCEPT_TAG, NEXT_TAG, REJECT_TAG

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

CHAT_TEMPLATE_PATH = Path(__file__).parent / "chat_template.jinja"
BOS, EOS, PAD = "<|begin|>", "<|end|>", "<|pad|>"
SPECIAL_TOKENS: tuple[str, ...] = (PAD, BOS, EOS, "<|system|>", "<|user|>", "<|assistant|>")
"""Chat-template markers. Special: dropped by decode(skip_special_tokens=True)."""
TAG_TOKENS: tuple[str, ...] = (
    "<SCRATCHPAD_REASONING>", "</SCRATCHPAD_REASONING>", "<DRAFT_OUTPUT>", "</DRAFT_OUTPUT>",
    "<OUTPUT>", "</OUTPUT>", ACCEPT_TAG, REJECT_TAG, NEXT_TAG,
    "<INPUT>", "</INPUT>", "<user_input>", "</user_input>", "<is_free_tier_user>", "</is_free_tier_user>",
)  # fmt: skip
"""Transcript tags, one token each. Ordinary (not special) tokens, so decoding always keeps them:
the parser and the reward read them from decoded text."""


def chat_template() -> str:
    """The Jinja chat template (system, user and assistant roles; each turn ends with the eos token)."""
    return CHAT_TEMPLATE_PATH.read_text(encoding="utf-8")


SENTENCE_BREAK = r"(?<=[.!?:;])\s+|\n+"
"""Where `split_sentences` cuts text before merging: whitespace after a sentence's end (or a colon or semicolon),
and newlines."""


def train_tokenizer(corpus: Iterable[str], vocab_size: int, *, split_sentences: bool = False) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE of `vocab_size` tokens (special and tag tokens included) on `corpus`.

    Merges may cross word boundaries (no regex pre-split): the corpus is a few fixed system prompts
    and templated sentences, so whole recurring phrases become single tokens and sequences get several
    times shorter, which is what makes CPU training affordable. Any text still encodes (byte fallback).
    The result pads on the left, has bos/eos/pad set, and carries the chat template.

    `split_sentences`: merges stop at sentence ends and newlines (SENTENCE_BREAK, kept as their own pieces),
    so a sentence encodes to the same tokens wherever it appears: in a scratchpad, after another sentence,
    or in a document (the synthetic-document setting needs that for what the documents teach to reach
    the scratchpad).

    Raises:
        ValueError: vocab_size too small to hold the 256 byte symbols plus the special and tag tokens.
    """
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    reserved = 256 + len(SPECIAL_TOKENS) + len(TAG_TOKENS)
    if vocab_size <= reserved:
        raise ValueError(f"organism.vocab_size ({vocab_size}) must exceed {reserved} (bytes + special + tag tokens)")
    tok = Tokenizer(models.BPE())
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    if split_sentences:
        from tokenizers import Regex

        tok.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.Split(Regex(SENTENCE_BREAK), behavior="isolated"), byte_level])
    else:
        tok.pre_tokenizer = byte_level
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - len(TAG_TOKENS),
        min_frequency=2,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    # Tags become their own tokens afterwards; cutting them out here keeps merges from being spent on them.
    tok.train_from_iterator((_strip_markers(text) for text in corpus), trainer=trainer)
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in TAG_TOKENS])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        padding_side="left",
        chat_template=chat_template(),
    )


def _strip_markers(text: str) -> str:
    for marker in (*TAG_TOKENS, *SPECIAL_TOKENS):
        text = text.replace(marker, "\n")
    return text
