"""Generation from a model served behind an OpenAI-compatible endpoint (vLLM, SGLang, hosted providers,
`python -m rl.serve`), with the shared endpoint client's machinery (`env.llm`): async requests with bounded
concurrency, retries with backoff, an on-disk answer cache, and failures counted (a `Failed` item), never
turned into text.

Chat API (default): the conversation goes as messages (the system prompt as the system message, or folded
into the first user turn when env.system_role is "fold"); a prefill (no_cot's "<OUTPUT>") goes as a final
assistant message with vLLM's `continue_final_message`. Completions API: the prompt text rendered with the
model's chat template by a local tokenizer (`tokenizer`), for servers of base models or exact templates.
The seed of the call is sent with every request (servers that honour it, vLLM and rl.serve, then sample
reproducibly; rl.serve samples exactly as `--engine hf` does for the same prompt and seed).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Literal, Sequence

from env.llm.cache import AnswerCache
from env.llm.client import LlmClient, LlmError
from env.llm.config import EndpointConfig

OpenAIApi = Literal["chat", "completions"]


@dataclass(frozen=True)
class Failed:
    """A generation the endpoint did not give after the client's retries; `reason` names the endpoint."""

    reason: str


class OpenAIEngine:
    """Engine over an OpenAI-compatible endpoint; `generate` (text prompts, completions API) and
    `generate_messages` (chat API) return one str or `Failed` per prompt."""

    name = "openai"

    def __init__(self, base_url: str, model: str, *, api: OpenAIApi = "chat", api_key_env: str | None = None,
                 max_concurrency: int = 64, timeout_s: float = 300.0, max_retries: int = 4, backoff_s: float = 1.0,
                 cache_dir: str | None = None, tokenizer: Any = None) -> None:
        if api == "completions" and tokenizer is None:
            raise ValueError("the completions API needs a tokenizer to render the prompt (--tokenizer)")
        self.cfg = EndpointConfig(base_url=base_url, model=model, api_key_env=api_key_env,
                               max_concurrency=max_concurrency, timeout_s=timeout_s, max_retries=max_retries,
                               backoff_s=backoff_s, cache_dir=None)
        self.api = api
        self.takes_messages = api == "chat"
        self.tokenizer = tokenizer
        self.client = LlmClient(self.cfg)
        self.cache = AnswerCache(cache_dir) if cache_dir else None
        self.progress: Any = None
        """An `env.progress.Progress` (or anything with `update(n)`): told of each request answered or failed."""

    def generate(self, prompts: Sequence[str], *, max_new_tokens: int, temperature: float,
                 seed: int) -> list[str | Failed]:
        """Completions API: one text per rendered prompt."""
        return self._all(list(prompts), max_new_tokens, temperature, seed)

    def generate_messages(self, conversations: Sequence[list[dict[str, str]]], prefills: Sequence[str], *,
                          max_new_tokens: int, temperature: float, seed: int) -> list[str | Failed]:
        """Chat API: one text per conversation, continuing `prefills[i]` (then not part of the text) when set."""
        requests: list[Any] = [conv + [{"role": "assistant", "content": pre}] if pre else conv
                               for conv, pre in zip(conversations, prefills, strict=True)]
        return self._all(requests, max_new_tokens, temperature, seed, prefilled=[bool(p) for p in prefills])

    def _all(self, requests: list[Any], max_tokens: int, temperature: float, seed: int,
             prefilled: list[bool] | None = None) -> list[str | Failed]:
        prefilled = prefilled or [False] * len(requests)

        async def batch() -> list[str | Failed]:
            return list(await asyncio.gather(*(self._one(r, max_tokens, temperature, seed, p)
                                               for r, p in zip(requests, prefilled, strict=True))))

        return self.client.run(batch())

    async def _one(self, request: Any, max_tokens: int, temperature: float, seed: int, prefilled: bool) -> str | Failed:
        key = cache_key(self.cfg.base_url, self.cfg.model, self.api, request, max_tokens, temperature, seed)
        hit = self.cache.get(key) if self.cache is not None else None
        if hit is not None:
            self._advance()
            return hit
        extra: dict[str, Any] = {"seed": seed}
        if prefilled:
            extra.update(continue_final_message=True, add_generation_prompt=False)
        try:
            text = await self.client.complete(request, temperature=temperature, max_tokens=max_tokens, extra=extra)
        except LlmError as e:
            self._advance()
            return Failed(str(e).replace("endpoint request", "generation request"))
        if self.cache is not None:
            self.cache.put(key, text)
        self._advance()
        return text

    def _advance(self) -> None:
        if self.progress is not None:
            self.progress.update(1)

    def close(self) -> None:
        self.client.close()
        if self.cache is not None:
            self.cache.close()


def cache_key(base_url: str, model: str, api: str, request: Any, max_tokens: int, temperature: float,
              seed: int) -> str:
    """The answer cache's key: endpoint, model, API, prompt or messages, sampling settings and seed."""
    payload = json.dumps([base_url.rstrip("/"), model, api, request, max_tokens, temperature, seed], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()
