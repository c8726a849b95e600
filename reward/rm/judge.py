"""The generative reward model: the LLM judge with the helpfulness rubric (rubrics/helpfulness_v1.txt), a
score from 1 to 10, the mean of `reward.model.judge_votes` samples. It goes through the judges' client, so
it shares their concurrency bound, retries, answer cache and failure rules: too few usable votes fail the
item (no score), never a made-up one."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence

from env.llm.cache import AnswerCache
from env.llm.client import LlmClient
from reward.judges.config import JudgeConfig, load_rubric
from reward.judges.voting import VotingJudge
from reward.rm.base import Pair, RmResult

RUBRIC = load_rubric("helpfulness_v1")
_ANALYSIS_RE = re.compile(r"<analysis>.*?</analysis>", re.IGNORECASE | re.DOTALL)
_SCORE_RE = re.compile(r"<score>\s*(\d{1,2})(?:\s*/\s*10)?\s*</score>", re.IGNORECASE)


def parse_helpfulness_answer(text: str) -> int | None:
    """The score of an answer in helpfulness_v1's format; None without exactly one distinct score in 1..10
    outside <analysis>."""
    scores = {int(m.group(1)) for m in _SCORE_RE.finditer(_ANALYSIS_RE.sub("", text))}
    if len(scores) != 1:
        return None
    score = scores.pop()
    return score if 1 <= score <= 10 else None


class HelpfulnessJudge(VotingJudge[int, RmResult]):
    """`RewardScorer` over the judge endpoint of `reward.judge`."""

    rubric = RUBRIC
    parse = staticmethod(parse_helpfulness_answer)

    def __init__(self, cfg: JudgeConfig, votes: int, client: LlmClient | None = None,
                 cache: AnswerCache | None = None) -> None:
        super().__init__(cfg, votes, client, cache)
        self.name = self.classifier

    def score(self, pairs: Sequence[Pair]) -> list[RmResult]:  # type: ignore[override]
        async def all_pairs() -> list[RmResult]:
            return list(await asyncio.gather(*(self._score_pair(r, o) for r, o in pairs)))

        return self.client.run(all_pairs())

    async def _score_pair(self, request: str, output: str) -> RmResult:
        try:
            votes, error = await self._collect(RUBRIC.transcript([("request", request), ("output", output)]))
        except Exception as e:  # noqa: BLE001 - one item's failure must not sink the batch
            return RmResult(None, f"{type(e).__name__}: {e}")
        if error is not None:
            return RmResult(None, error)
        return RmResult(sum(votes) / len(votes))
