"""What the two LLM judges share: a client and cache (own or shared), cached votes sampled
concurrently, and the rule that too few usable votes make an item failed, not labelled."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Generic, TypeVar

from env.llm.cache import AnswerCache, cache_key
from env.llm.client import LlmClient
from reward.judges.config import JudgeConfig, Rubric

if TYPE_CHECKING:
    from env.episode import Episode
    from env.transcript import ParsedCompletion

V = TypeVar("V")
R = TypeVar("R")
Item = tuple["Episode | None", "ParsedCompletion"]


class VotingJudge(Generic[V, R]):
    """Base of AfJudge and ComplianceJudge: subclasses set `rubric` and `parse` and implement
    `_score_item` (one item -> one result, never raising)."""

    rubric: Rubric
    parse: Callable[[str], V | None]
    """Reads one judge answer; None when it is not in the rubric's format (the vote is sampled again)."""

    def __init__(self, cfg: JudgeConfig, votes: int, client: LlmClient | None = None,
                 cache: AnswerCache | None = None) -> None:
        """Make a judge that samples `votes` answers per item; `client` and `cache` may be shared with
        other judges (by default the judge makes its own; no cache when `cfg.cache_dir` is None).

        Raises:
            ValueError: `client` sends to another model than `cfg.model`.
        """
        if client is not None and client.cfg.model != cfg.model:
            raise ValueError(f"client model {client.cfg.model!r} differs from the judge's model {cfg.model!r}")
        self.cfg = cfg
        self.votes = votes
        self.classifier = f"judge:{cfg.model}:{self.rubric.version.partition('@')[0]}x{votes}"
        self._owns_client = client is None
        self.client = client if client is not None else LlmClient(cfg)
        self._owns_cache = cache is None and cfg.cache_dir is not None
        self.cache = cache if cache is not None else (AnswerCache(cfg.cache_dir) if cfg.cache_dir else None)

    async def ascore(self, items: Sequence[Item]) -> list[R]:
        """One result per (episode, parsed completion), in order; every vote of every item is in flight
        at once, up to the client's concurrency bound. Never raises for one item."""
        return list(await asyncio.gather(*(self._score_item(episode, parsed) for episode, parsed in items)))

    def score(self, items: Sequence[Item]) -> list[R]:
        """`ascore` from synchronous code, or from code inside a running event loop (which it blocks),
        on the client's background loop thread."""
        return self.client.run(self.ascore(list(items)))

    def close(self) -> None:
        """Close the client and cache this judge made itself; shared ones are their owner's to close."""
        if self._owns_client:
            self.client.close()
        if self._owns_cache and self.cache is not None:
            self.cache.close()

    async def _score_item(self, episode: Episode | None, parsed: ParsedCompletion) -> R:
        raise NotImplementedError

    async def _collect(self, transcript: str) -> tuple[list[V], str | None]:
        """(usable votes, None), or (votes, why the item fails) when fewer than `cfg.min_valid_fraction`
        of the requested votes are usable."""
        outcomes = await asyncio.gather(*(self._vote(transcript, i) for i in range(self.votes)),
                                        return_exceptions=True)
        votes = [o for o in outcomes if not isinstance(o, BaseException)]
        errors = [o for o in outcomes if isinstance(o, BaseException)]
        if not votes or len(votes) < self.cfg.min_valid_fraction * len(outcomes):
            return votes, (f"{len(votes)} of {len(outcomes)} judge votes usable (min_valid_fraction "
                           f"{self.cfg.min_valid_fraction}); last error: {errors[-1]}")
        return votes, None

    async def _vote(self, transcript: str, index: int) -> V:
        """Sample `index` of `transcript`: from the cache, else from the judge (cached once parseable)."""
        parse = type(self).parse
        key = cache_key(transcript, self.rubric.version, self.cfg.model, index)
        hit = self.cache.get(key) if self.cache is not None else None
        if hit is not None and (vote := parse(hit)) is not None:
            return vote
        answer = await self.client.complete(
            self.rubric.messages(transcript),
            temperature=self.cfg.temperature,
            max_tokens=self.cfg.max_tokens,
            valid=lambda a: parse(a) is not None,
        )
        vote = parse(answer)
        assert vote is not None  # `valid` admitted only parseable answers
        if self.cache is not None:
            self.cache.put(key, answer)
        return vote
