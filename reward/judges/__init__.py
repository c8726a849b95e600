"""LLM-judge backends for the two classifiers, against any OpenAI-compatible chat-completions endpoint.

`ComplianceJudge` and `AfJudge` produce the same result types as the offline classifiers
(`ComplianceResult`, `AfResult`); a judge that cannot decide gives a failed result, never a label.
The client, cache and probe they send requests with are `env.llm`'s.
"""

from reward.judges.af import AfJudge
from reward.judges.compliance import ComplianceJudge
from reward.judges.config import JudgeConfig

__all__ = ["AfJudge", "ComplianceJudge", "JudgeConfig"]
