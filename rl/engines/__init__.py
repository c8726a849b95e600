"""Generation engines: turn chat-templated prompt texts into completions.

`hf` runs HF transformers on CPU or GPU with a shared-prefix KV cache; `vllm` runs vLLM on GPU with
prefix caching. Both satisfy `Engine`, so evaluation (rl/evaluate.py) never knows which one it drives.
`openai` sends the conversations to a model served behind an OpenAI-compatible endpoint (rl/engines/openai.py):
with the chat API it takes messages (`takes_messages`, `generate_messages`) instead of rendered text.
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence


class Engine(Protocol):
    """What evaluation needs from a generator."""

    tokenizer: Any
    """HF tokenizer whose chat template renders the prompts (rl.prompting.render_prompt)."""

    def generate(self, prompts: Sequence[str], *, max_new_tokens: int, temperature: float, seed: int) -> list[str]:
        """One completion per prompt (already chat-templated text; no special tokens are added), special
        tokens stripped. temperature 0 is greedy. The same seed and prompts give the same completions."""
        ...

    def close(self) -> None:
        """Free the model (GPU memory) when the engine is no longer needed."""
        ...


ENGINES = ("auto", "hf", "vllm", "openai")


def pick_engine(name: str) -> str:
    """`auto` -> vllm where it is installed and a GPU is present, else hf."""
    if name not in ENGINES:
        raise ValueError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}")
    if name != "auto":
        return name
    from rl.engines.vllm import vllm_available

    return "vllm" if vllm_available() else "hf"


def load_engine(name: str, model: str, *, adapter: str | None = None, dtype: str = "auto", device: str = "auto",
                batch_size: int = 32, prefix_cache: bool = True, vllm_options: dict[str, Any] | None = None,
                openai_options: dict[str, Any] | None = None) -> Engine:
    """Load `model` (plus a LoRA `adapter`) into the engine `name` ("hf", "vllm" or "openai").

    batch_size and prefix_cache apply to hf (vLLM schedules its own batches and always caches prefixes);
    vllm_options are passed to VllmEngine (max_model_len, gpu_memory_utilization, tensor_parallel_size);
    openai_options to OpenAIEngine (base_url, api, api_key_env, max_concurrency, ..., tokenizer: a path),
    where `model` is the model's name at the endpoint.
    """
    if name == "openai":
        from rl.engines.openai import OpenAIEngine

        options = dict(openai_options or {})
        tokenizer = options.pop("tokenizer", None)
        if tokenizer is not None:
            from rl.models import load_tokenizer

            tokenizer = load_tokenizer(tokenizer)
        return OpenAIEngine(model=model, tokenizer=tokenizer, **options)  # type: ignore[return-value]
    if name == "hf":
        from rl.engines.hf import HFEngine

        return HFEngine.load(model, adapter=adapter, dtype=dtype, device=device, batch_size=batch_size,
                             prefix_cache=prefix_cache)
    if name == "vllm":
        from rl.engines.vllm import VllmEngine

        return VllmEngine(model, adapter=adapter, dtype=dtype, **(vllm_options or {}))
    raise ValueError(f"unknown engine {name!r}; choose hf, vllm or openai")
