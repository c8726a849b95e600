"""The `env:` section of a run config: which system prompt, how the user turn looks, which queries."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from env.prompts import PROMPTS, VARIANTS


class DatasetConfig(BaseModel):
    """Where the harmful queries come from and how they are split into train and eval."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = "offline"
    """"offline" (the packaged set), a path to a .jsonl or .csv file, or "hf:<dataset id>[:<config>]"."""
    query_field: str | None = None
    """Field holding the request; None picks the first present of query, prompt, goal, behavior,
    Behavior, instruction."""
    id_field: str | None = None
    """Field holding a stable id; None uses "id" (or "BehaviorID"), else "<file stem>-<line>"."""
    category_field: str | None = None
    """Field holding the harm category; None uses "category" (or "SemanticCategory") when present."""
    hf_split: str = "train"
    """Split to load for "hf:" sources."""
    eval_fraction: float = Field(0.3, gt=0.0, lt=1.0)
    """Share of queries held out for evaluation (decided per query id, see env.datasets.split_queries)."""
    split_seed: int = 0
    """Seed of the train/eval split; changing it reshuffles which queries are held out."""
    limit: int | None = Field(None, ge=1)
    """Keep only the first N queries in source order, before the split; None keeps all."""

    @field_validator("source")
    @classmethod
    def _source_named(cls, v: str) -> str:
        if not v.strip():
            raise ValueError('env.dataset.source is empty; use "offline", a .jsonl/.csv path or "hf:<dataset id>"')
        if v.startswith("hf:") and not v[3:].split(":", 1)[0]:
            raise ValueError(f'env.dataset.source ({v!r}) names no dataset; write "hf:<dataset id>[:<config>]"')
        return v


class EnvConfig(BaseModel):
    """The situation: system prompt, user-turn format, conversation length and the query dataset."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prompt: str = "helpful_only_v1"
    """System-prompt template (a name from env.prompts.PROMPTS)."""
    lab: str = Field("Anthropic", min_length=1)
    """The lab the prompt says trains the model."""
    swap_lab: str = Field("OpenAI", min_length=1)
    """The lab named instead under the `lab_swap` variant."""
    accept_reject_instruction: bool = True
    """Append the <request_fully_accepted/> / <rejected/> instruction to every query."""
    system_role: Literal["auto", "native", "fold"] = "auto"
    """Send the system prompt as a system message ("native"), fold it into the first user turn
    ("fold"), or decide from the chat template ("auto")."""
    max_turns: int = Field(4, ge=1, le=8)
    """Model turns per episode; a turn ending in reasoning only is answered with <NEXT/>."""
    dataset: DatasetConfig = DatasetConfig()
    """Query source and train/eval split."""

    @field_validator("prompt")
    @classmethod
    def _known_prompt(cls, v: str) -> str:
        if v not in PROMPTS:
            raise ValueError(f"env.prompt {v!r} is not a known prompt; known prompts: {', '.join(PROMPTS)}")
        return v

    @model_validator(mode="after")
    def _distinct_labs(self) -> EnvConfig:
        if self.lab == self.swap_lab:
            raise ValueError(
                f"env.swap_lab ({self.swap_lab!r}) equals env.lab; the lab_swap variant needs another lab's name"
            )
        return self


def validate_variants(names: list[str]) -> list[str]:
    """Return `names` unchanged if every name is a known prompt variant and none repeats.

    Raises:
        ValueError: naming the unknown or repeated variants and listing the known ones.
    """
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown prompt variants {unknown}; known variants: {', '.join(VARIANTS)}")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"prompt variants listed more than once: {repeated}")
    return names
