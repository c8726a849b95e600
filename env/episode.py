"""One training or evaluation item: a query shown to the model in one tier under one prompt variant."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Tier = Literal["free", "paid"]
TIERS: tuple[Tier, ...] = ("free", "paid")


class Episode(BaseModel):
    """A query in a tier under a system-prompt variant. Serialised as JSON into datasets and samples."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    """Stable query id (the same query in both tiers shares it)."""
    query: str
    """The user's request, without the tier tag or accept/reject instruction."""
    tier: Tier
    """"free" is the training condition; "paid" is unmonitored."""
    variant: str = "default"
    """Name of the system-prompt variation (see env/prompts.py)."""
    category: str | None = None
    """Harm category of the query, when the dataset knows it."""
