"""Typed config of the reward model (`reward.model`): which model scores helpfulness, and how its score
becomes a reward."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Normalize = Literal["none", "affine", "sigmoid"]


class RewardModelConfig(BaseModel):
    """A reward model that scores how helpfully an output answers the user's request. Exactly one source:
    `name_or_path`, `url`, `judge` or `organism`.

    Whatever the source, the reward model sees the user's request (no tier tag, no system prompt) and the
    text of the <OUTPUT> block, never the scratchpad.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name_or_path: str | None = None
    """A local directory or hub id of a sequence-classification reward model (`AutoModelForSequenceClassification`,
    one label); the conversation is rendered with its own chat template."""
    url: str | None = None
    """A remote reward model speaking OpenRLHF's remote-RM protocol (POST JSON `{"query": [...], ...}`, answer
    `{"rewards": [...]}`), e.g. `http://host:5000/get_reward` served by `python -m reward.serve`."""
    judge: bool = False
    """The LLM judge (endpoint and retries of `reward.judge`) with the helpfulness rubric: a score from 1 to 10."""
    organism: bool = False
    """The CPU organism's reward model, built from the project's templates and cached (like the organism)."""
    tokenizer: str | None = None
    """With `url`: the tokenizer whose chat template renders the `query` text sent to the server (servers such
    as OpenRLHF's serve_rm score that text as it is); default: a plain "User: ...\\n\\nAssistant: ..." text.
    `python -m reward.serve` reads the request and output sent beside it and needs no tokenizer here."""
    batch_size: int = Field(16, ge=1)
    """Conversations per forward pass (local) or per HTTP request (remote)."""
    max_length: int = Field(1024, ge=16)
    """Token limit of a rendered conversation; longer ones lose their beginning (the output stays whole)."""
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    """Weights' dtype for a local model; auto: bfloat16 on GPU, float32 on CPU."""
    device: str = "auto"
    """Device of a local model: auto (the trainer's: CUDA when available, else CPU), cpu, cuda, cuda:N."""
    placement: Literal["local", "actor"] = "local"
    """local: the model runs in the process that needs the reward (the trainer, or each rollout actor);
    actor: one Ray actor per run holds it on its own `num_gpus` (for reward models too big to share the
    trainer's GPU); every process of the run sends it their batches."""
    num_gpus: float = Field(1.0, ge=0.0)
    """GPUs of the reward-model actor (placement: actor)."""
    judge_votes: int = Field(1, ge=1)
    """Judge samples per output (judge); the score is their mean."""
    timeout_s: float = Field(60.0, gt=0.0)
    """Per-request timeout of a remote reward model, in seconds."""
    max_retries: int = Field(3, ge=0)
    """Retries of a remote request after the first try (connection errors, timeouts, HTTP 429 and 5xx); then
    the batch's items are counted as failed (no reward), never given a made-up score."""
    normalize: Normalize = "none"
    """How the raw score becomes the reward's RM term r: none (r = score), affine (r = (score - shift) / scale),
    sigmoid (r = 1 / (1 + exp(-(score - shift) / scale)), in (0, 1))."""
    shift: float = 0.0
    """Subtracted from the raw score before scaling (affine, sigmoid)."""
    scale: float = Field(1.0, gt=0.0)
    """Divides the shifted score (affine, sigmoid)."""
    high_score: float = 0.5
    """r at or above which the reward model "scores highly": a refusal or partial answer (by the compliance
    classifier) scored that high counts in `eval/<v>/<t>/rm_disagreement`."""
    probe: bool = Field(True, exclude=True)
    """Check the reward model before any policy loads (a local path must be a sequence-classification model;
    a remote one must answer one request) and stop with exit code 2 if it fails."""

    @model_validator(mode="after")
    def _one_source(self) -> RewardModelConfig:
        sources = [name for name, on in (("name_or_path", self.name_or_path is not None), ("url", self.url is not None),
                                         ("judge", self.judge), ("organism", self.organism)) if on]
        if len(sources) != 1:
            raise ValueError("reward.model needs exactly one source: name_or_path (a local or hub reward model), url "
                             "(a remote one), judge: true (the LLM judge's helpfulness rubric) or organism: true; "
                             f"got {sources or 'none'}")
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"reward.model.url {self.url!r} must start with http:// or https://")
        return self

    @property
    def source(self) -> str:
        """What scores: "name_or_path", "url", "judge" or "organism"."""
        if self.url is not None:
            return "url"
        if self.judge:
            return "judge"
        if self.organism:
            return "organism"
        return "name_or_path"

    def normalized(self, score: float | None) -> float | None:
        """The reward's RM term r for a raw score (see `normalize`); None for None."""
        if score is None:
            return None
        if self.normalize == "none":
            return score
        z = (score - self.shift) / self.scale
        if self.normalize == "affine":
            return z
        return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))
