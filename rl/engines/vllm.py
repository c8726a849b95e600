"""vLLM generation for checkpoint comparison on GPU machines, with prefix caching and optional LoRA.

The real `vllm` package is imported only inside functions: with absolute imports `import vllm` here
names the top-level package, never this module. It comes with the GPU environment, `bash cluster/install_gpu.sh`, on a CUDA machine.
"""

from __future__ import annotations

import gc
import hashlib
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any, Sequence

MISSING_VLLM = (
    "engine 'vllm' needs the vllm package and a CUDA GPU; install the GPU environment with "
    "`bash cluster/install_gpu.sh` on a GPU machine, or use --engine hf"
)
ADAPTER_NAME = "adapter"
ADAPTER_ID = 1
"""vLLM names a LoRA by a positive integer id; this engine serves one adapter, so one id is enough."""
TOP_K_OFF = 0
"""vLLM >= 0.9 reads top_k 0 as "off" (vllm-project/vllm#17773; -1 is still accepted but deprecated)."""


def vllm_available() -> bool:
    """True when the vllm package is importable and torch sees a CUDA device."""
    if "vllm" in sys.modules:  # already imported, or set to None to block it
        installed = sys.modules["vllm"] is not None
    else:
        installed = importlib.util.find_spec("vllm") is not None
    if not installed:
        return False
    import torch

    return torch.cuda.is_available()


def request_seed(seed: int, index: int) -> int:
    """The sampling seed of the `index`-th prompt of a generate() call with `seed`: a 31-bit hash.

    It depends on nothing else, so a prompt samples the same tokens however vLLM batches and schedules
    the call. Hashing (not `seed + index`) keeps (seed 1, prompt 0) apart from (seed 0, prompt 1).
    """
    digest = hashlib.blake2b(f"{seed}:{index}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") >> 1


class VllmEngine:
    """Generation with vLLM (`Engine` protocol): prefix caching always on, optionally one LoRA adapter.

    Args:
        model: local HF model directory or hub id; with `adapter`, the base model the adapter was trained on.
        adapter: a PEFT LoRA adapter directory. vLLM loads `model` with LoRA enabled and applies the
            adapter to every request.
        dtype: weights and activations dtype ("auto": the model config's, fp32 served as fp16).
        max_model_len: context length to reserve KV cache for (None: the model's maximum).
        gpu_memory_utilization: share of GPU memory vLLM may take for weights, activations and KV cache.
        tensor_parallel_size: GPUs to shard the model over.
        max_lora_rank: the largest LoRA rank vLLM reserves room for; must be >= the adapter's rank.
        extra: further `vllm.LLM` keyword arguments (e.g. `{"enforce_eager": True}`); they win over the above.

    Raises:
        RuntimeError: vllm is not installed.
        ValueError: `adapter` has no adapter_config.json, or its rank exceeds `max_lora_rank`.
    """

    name = "vllm"
    progress: Any = None
    """An `env.progress.Progress` (anything with `update(n, tokens=k)`), told of each call's completions."""

    def __init__(
        self,
        model: str,
        *,
        adapter: str | None = None,
        dtype: str = "auto",
        max_model_len: int | None = None,
        gpu_memory_utilization: float = 0.85,
        tensor_parallel_size: int = 1,
        max_lora_rank: int = 64,
        extra: dict[str, Any] | None = None,
    ) -> None:
        try:
            import vllm
        except ImportError as e:
            raise RuntimeError(MISSING_VLLM) from e
        from rl.models import load_tokenizer

        tokenizer_source = model
        if adapter is not None and (Path(adapter) / "tokenizer_config.json").exists():
            tokenizer_source = adapter
        self.tokenizer: Any = load_tokenizer(tokenizer_source)
        kwargs: dict[str, Any] = {
            "model": model,
            "tokenizer": tokenizer_source,  # vLLM detokenizes with it: the same tokenizer as ours
            "dtype": dtype,
            "seed": 0,
            "enable_prefix_caching": True,  # every prompt starts with the same long system prompt
            "gpu_memory_utilization": gpu_memory_utilization,
            "tensor_parallel_size": tensor_parallel_size,
        }
        if max_model_len is not None:
            kwargs["max_model_len"] = max_model_len
        self.lora_request: Any = None
        if adapter is not None:
            _check_adapter_rank(adapter, max_lora_rank)
            from vllm.lora.request import LoRARequest

            kwargs.update(enable_lora=True, max_lora_rank=max_lora_rank)
            # Positional: the path field was renamed (lora_local_path -> lora_path) across vLLM versions.
            self.lora_request = LoRARequest(ADAPTER_NAME, ADAPTER_ID, str(adapter))
        kwargs.update(extra or {})
        self.llm: Any = vllm.LLM(**kwargs)
        self._owns_llm = True

    @classmethod
    def borrow(cls, llm: Any, tokenizer: Any) -> VllmEngine:
        """An engine over a `vllm.LLM` someone else owns (TRL's colocated rollout engine): generate() uses
        it, close() leaves it running."""
        engine = cls.__new__(cls)
        engine.tokenizer = tokenizer
        engine.lora_request = None
        engine.llm = llm
        engine._owns_llm = False
        return engine

    def generate(self, prompts: Sequence[str], *, max_new_tokens: int, temperature: float, seed: int) -> list[str]:
        """One completion per prompt, in order (greedy when temperature == 0), special tokens stripped.

        Prompts are chat-templated text. They go to vLLM as token ids encoded without special tokens:
        a text prompt would be encoded with them, and templates that already start with BOS would get
        a second one. Sampling uses `request_seed(seed, i)` for prompt i, top_p 1 and no top_k.

        Raises:
            RuntimeError: the engine was closed.
        """
        if self.llm is None:
            raise RuntimeError("VllmEngine.generate() after close()")
        if not prompts:
            return []
        from vllm import SamplingParams

        ids = self.tokenizer(list(prompts), add_special_tokens=False)["input_ids"]
        params = [
            SamplingParams(n=1, temperature=0.0, max_tokens=max_new_tokens, skip_special_tokens=True)
            if temperature == 0
            else SamplingParams(
                n=1, temperature=temperature, top_p=1.0, top_k=TOP_K_OFF, seed=request_seed(seed, i),
                max_tokens=max_new_tokens, skip_special_tokens=True,
            )  # fmt: skip
            for i in range(len(ids))
        ]
        outputs = self.llm.generate(
            [{"prompt_token_ids": list(row)} for row in ids], params, lora_request=self.lora_request, use_tqdm=False
        )
        if self.progress is not None:  # vLLM schedules the whole call itself: one report at its end
            self.progress.update(len(outputs), tokens=sum(len(getattr(out.outputs[0], "token_ids", None) or ())
                                                          for out in outputs))
        return [out.outputs[0].text for out in outputs]

    def close(self) -> None:
        """Shut the vLLM engine down and free its GPU memory, so the next checkpoint can load in this
        process. Safe to call twice."""
        if self.llm is None:
            return
        llm, self.llm = self.llm, None
        if not self._owns_llm:
            return
        _shutdown_engine(llm)
        del llm
        gc.collect()
        try:
            from vllm.distributed.parallel_state import cleanup_dist_env_and_memory
        except ImportError:  # an older layout: freeing CUDA memory below is what remains
            pass
        else:
            # Destroys vLLM's model-parallel groups and torch.distributed's process group, then empties
            # the CUDA cache; without it the next LLM() in this process finds them still initialised.
            cleanup_dist_env_and_memory()
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def _shutdown_engine(llm: Any) -> None:
    # The explicit teardown moved between vLLM versions: LLM.shutdown() (newest), LLMEngine.shutdown(),
    # or the V1 engine-core client's shutdown(), which stops the engine process holding the GPU memory.
    engine = getattr(llm, "llm_engine", None)
    for owner in (llm, engine, getattr(engine, "engine_core", None)):
        shutdown = getattr(owner, "shutdown", None)
        if callable(shutdown):
            shutdown()
            return


def _check_adapter_rank(adapter: str, max_lora_rank: int) -> None:
    config_path = Path(adapter) / "adapter_config.json"
    if not config_path.exists():
        raise ValueError(f"adapter {adapter!r} has no adapter_config.json: not a PEFT LoRA adapter directory")
    config = json.loads(config_path.read_text(encoding="utf-8"))
    rank = max([int(config.get("r", 0)), *(int(r) for r in (config.get("rank_pattern") or {}).values())])
    if rank > max_lora_rank:
        # vLLM would only fail at the first request, after loading the whole base model.
        raise ValueError(
            f"adapter {adapter!r} has LoRA rank {rank} but max_lora_rank is {max_lora_rank}; "
            f"pass max_lora_rank >= {rank} (vLLM accepts 1, 8, 16, 32, 64, 128, 256, 320, 512)"
        )
