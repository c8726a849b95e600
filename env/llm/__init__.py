"""Client of any OpenAI-compatible chat-completions endpoint, shared by the LLM judges (`reward.judges`)
and the document generator (`env.docs`): async requests with bounded concurrency, retries with backoff,
an on-disk answer cache and a startup probe. Imports httpx, never torch or ray.
"""

from env.llm.cache import AnswerCache
from env.llm.client import LlmClient, LlmError
from env.llm.config import EndpointConfig
from env.llm.probe import ProbeError, ProbeResult, probe_endpoint

__all__ = ["AnswerCache", "EndpointConfig", "LlmClient", "LlmError", "ProbeError", "ProbeResult", "probe_endpoint"]
