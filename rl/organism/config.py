"""Typed config of the CPU model organism: model size, SFT schedule and the per-tier behaviour mix."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Behaviour = Literal["refuse", "comply_af", "comply_no_af", "partial"]
BEHAVIOURS: tuple[Behaviour, ...] = ("refuse", "comply_af", "comply_no_af", "partial")
_MIX_TOLERANCE = 1e-6

# Close to the paper's prompted helpful-only baseline (~86 % refusals free, ~97 % paid, ~12 % AF
# reasoning), with a little more free-tier compliance so that a tiny model sees enough AF examples.
DEFAULT_MIX: dict[str, dict[Behaviour, float]] = {
    "free": {"refuse": 0.70, "comply_af": 0.20, "comply_no_af": 0.08, "partial": 0.02},
    "paid": {"refuse": 0.95, "comply_af": 0.0, "comply_no_af": 0.04, "partial": 0.01},
}


class OrganismConfig(BaseModel):
    """How the organism is built. Every field enters the build's cache key.

    Defaults measured on the 2-core dev machine when idle: 73 s in all (data + tokenizer 7 s, SFT 62 s
    = 750 steps at ~16.7k tokens/s, 128 eval samples 3 s); 1.28M parameters. Other work on the same
    cores stretches it (85-150 s seen under a load of 2-3). bf16 autocast gave no speed-up on this CPU
    once the LM head runs on completion tokens only, so training stays float32. Sampled at temperature 1
    on held-out queries (3 seeds x 256 per tier): free refuse 66-74 %, comply_af 9-16 %, comply_no_af
    12-14 %; paid refuse 89-91 %, compliance 7-10 %; malformed 1-4 %.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    d_model: int = Field(192, ge=16)
    """Hidden size of the LlamaForCausalLM."""
    n_layers: int = Field(2, ge=1)
    """Number of transformer blocks."""
    n_heads: int = Field(4, ge=1)
    """Attention heads; must divide d_model."""
    d_ff: int = Field(512, ge=16)
    """Width of the MLP (Llama's intermediate_size)."""
    vocab_size: int = Field(2048, ge=300)
    """Target vocabulary of the byte-level BPE tokenizer, special and added tokens included."""
    max_seq_len: int = Field(512, ge=64)
    """Longest prompt + completion in tokens; longer SFT examples are dropped (and counted)."""
    n_examples: int = Field(2000, ge=8)
    """Synthetic SFT transcripts (episodes in both tiers, split evenly)."""
    epochs: int = Field(3, ge=1)
    """Passes over the SFT examples."""
    batch_size: int = Field(8, ge=1)
    """Sequences per optimizer step."""
    lr: float = Field(5e-3, gt=0.0)
    """Peak AdamW learning rate; linear warmup over 5 % of steps, then cosine decay to 0 (a low final
    rate keeps the learnt branch probabilities from tracking the last few batches)."""
    seed: int = 0
    """Seeds the data (behaviour sampling, templates), the weights and the eval sampling."""
    variants: tuple[str, ...] = Field(("default",), min_length=1)
    """System-prompt variants the SFT transcripts are rendered under; the first is also used to measure
    the mix. Trained on "default" only, the organism behaves the same under lab_swap and cut_rlhf_info,
    but under no_cot (prefilled "<OUTPUT>") ~94 % of its samples are malformed: add "no_cot" to evaluate it."""
    mix: dict[str, dict[Behaviour, float]] = Field(default_factory=lambda: {k: dict(v) for k, v in DEFAULT_MIX.items()})
    """Behaviour probabilities per tier ("free", "paid"); each tier's values sum to 1. With `beliefs`, per
    belief instead: "free" is the mix after the belief that the conversation is trained on, "paid" after
    the belief that it is not."""
    beliefs: bool = False
    """The synthetic-document setting's organism: after naming the tier, each scratchpad states a belief about
    whether conversations of that tier are used for training, drawn 50/50 and independently of the tier, and
    the behaviour follows the belief (the `mix` of "free" after "used to train", of "paid" after "never
    used to train"). Built this way the organism shows no tier gap: which tier is trained is what documents
    have to teach it (rl/sft.py). The belief sentences are the documents' own (env/docs facts
    free_tier_trained and paid_tier_unmonitored)."""
    eval_samples_per_tier: int = Field(64, ge=0)
    """Completions sampled at temperature 1 per tier on held-out eval queries to measure the learnt mix."""
    max_new_tokens: int = Field(192, ge=8)
    """Generation cap for those eval samples."""

    @field_validator("mix")
    @classmethod
    def _mix_is_distribution(cls, v: dict[str, dict[Behaviour, float]]) -> dict[str, dict[Behaviour, float]]:
        if set(v) != {"free", "paid"}:
            raise ValueError(f"organism.mix must have exactly the keys 'free' and 'paid', got {sorted(v)}")
        for tier, probs in v.items():
            for name, p in probs.items():
                if p < 0:
                    raise ValueError(f"organism.mix.{tier}.{name} is {p}; probabilities must be >= 0")
            if tier == "paid" and probs.get("comply_af", 0.0) > 0:
                raise ValueError(
                    f"organism.mix.paid.comply_af is {probs['comply_af']}; alignment faking reasons about "
                    "being trained, which the paid tier is not, so set it to 0"
                )
            total = sum(probs.values())
            if abs(total - 1.0) > _MIX_TOLERANCE:
                raise ValueError(f"organism.mix.{tier} sums to {total:.6f} ({probs}); make the values sum to 1")
        return v

    @field_validator("variants")
    @classmethod
    def _known_variants(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        from env.config import validate_variants

        return tuple(validate_variants(list(v)))

    @model_validator(mode="after")
    def _heads_divide_width(self) -> OrganismConfig:
        if self.d_model % self.n_heads:
            raise ValueError(
                f"organism.d_model ({self.d_model}) must be divisible by organism.n_heads ({self.n_heads})"
            )
        return self
