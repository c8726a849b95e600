"""LLM-judge backends for the two classifiers, against any OpenAI-compatible chat-completions endpoint.

`ComplianceJudge` and `AfJudge` produce the same result types as the offline classifiers
(`ComplianceResult`, `AfResult`); a judge that cannot decide gives a failed result, never a label.
"""

from reward.judges.af import AfJudge
from reward.judges.cache import JudgeCache
from reward.judges.client import JudgeClient, JudgeError
from reward.judges.compliance import ComplianceJudge
from reward.judges.config import JudgeConfig

__all__ = ["AfJudge", "ComplianceJudge", "JudgeCache", "JudgeClient", "JudgeConfig", "JudgeError"]
