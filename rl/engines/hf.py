"""HF transformers generation with a shared-prefix KV cache, on CPU or GPU.

Every evaluation prompt starts with the same tokens: the chat template's opening and the system prompt,
thousands of tokens against a query's hundred. Naive batched generation encodes that prefix again for
every prompt. Here the longest common token prefix of a call's prompts is run through the model once;
each batch then starts from a copy of its KV cache and only encodes its own suffix.

Layout of a batch row: `[shared prefix][pads][suffix]`, with the pads masked out. Positions come from
the attention mask, so the suffix sits right after the prefix exactly as in the unpadded prompt and
greedy decoding gives the same tokens as naive generation (bench/prefix_cache.py checks this).

Sampling is per prompt: each prompt draws from its own random stream, seeded by the call's seed and the
prompt text, through the Gumbel-max trick (argmax of logits / T plus Gumbel noise is an exact sample of
softmax(logits / T)). A prompt therefore gets the same completion whatever it is batched with, so the
evaluation during training (all variations in one call) and `rl.compare` (one variation per cell) give
the same transcript for the same checkpoint, query, tier and variation.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, Sequence

MIN_PREFIX_TOKENS = 16
"""A shorter common prefix is not worth a separate forward pass: the call generates naively."""


def common_prefix_len(seqs: Sequence[Sequence[int]]) -> int:
    """Length of the longest common prefix of token sequences, leaving every sequence >= 1 token of its own.

    The model needs at least one uncached input token per row to produce the first next-token logits.
    """
    if not seqs:
        return 0
    limit = min(len(s) for s in seqs) - 1
    first = seqs[0]
    n = 0
    while n < limit and all(s[n] == first[n] for s in seqs):
        n += 1
    return max(n, 0)


def supports_prefix_cache(model: Any) -> bool:
    """True for models whose generate() uses a plain dynamic KV cache (every full-attention decoder).

    Sliding-window and hybrid models (Gemma 2/3, Mistral with a window) keep other cache types whose
    contents can't be shared this way; they generate naively.
    """
    config = getattr(model, "config", None)
    if config is None:
        return False
    if getattr(config, "sliding_window", None) or getattr(config, "use_sliding_window", False):
        return False
    layer_types = getattr(config, "layer_types", None)
    if layer_types and any(t != "full_attention" for t in layer_types):
        return False
    supports = getattr(model, "_supports_default_dynamic_cache", None)
    return bool(supports()) if callable(supports) else True


def prompt_seed(seed: int, prompt: str) -> int:
    """The sampling seed of one prompt: a 63-bit hash of the call's seed and the prompt text."""
    digest = hashlib.blake2b(f"{seed}:{prompt}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


@dataclass(frozen=True)
class Generated:
    """One prompt's generation in token ids (HFEngine.generate_ids)."""

    ids: list[int]
    """The new tokens, through the stop token when generation stopped on one."""
    logprobs: list[float]
    """Log-probability of each new token under the distribution it was drawn from: softmax(logits /
    temperature) after the model's own logits processors (at temperature 1 when greedy)."""
    stopped: bool
    """Ended on a stop token; False when cut by max_new_tokens."""


class RowGumbel:
    """Logits processor for greedy generate(): adds per-row Gumbel noise to logits / temperature, so the
    argmax is a sample from softmax(logits / temperature) drawn from that row's own generator.

    It also records, per step, each row's log-probability of the token the argmax picks; generate()
    picks exactly that token, as this is the last processor and decoding is greedy. temperature 0
    adds no noise (plain greedy) and records log-probabilities at temperature 1.
    """

    def __init__(self, seeds: Sequence[int], temperature: float) -> None:
        self.seeds = list(seeds)
        self.temperature = temperature
        self._generators: list[Any] | None = None
        self.logprobs: list[Any] = []
        """One tensor of shape (rows,) per generated step."""

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        scaled = scores.float()
        picked = scaled
        if self.temperature > 0:
            scaled = scaled / self.temperature
            if self._generators is None:
                self._generators = [torch.Generator(device=scores.device).manual_seed(s) for s in self.seeds]
            vocab = scores.shape[-1]
            u = torch.stack([torch.rand(vocab, generator=g, device=scores.device) for g in self._generators])
            picked = scaled - torch.log(-torch.log(u.clamp_min(1e-20)))
        chosen = picked.argmax(dim=-1, keepdim=True)
        self.logprobs.append(torch.log_softmax(scaled, dim=-1).gather(-1, chosen).squeeze(-1))
        return picked


def stop_token_ids(model: Any, tokenizer: Any) -> set[int]:
    """The tokens generate() stops on: the model's generation config's eos ids, else the tokenizer's."""
    eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if eos is None:
        eos = tokenizer.eos_token_id
    if eos is None:
        return set()
    return {int(e) for e in eos} if isinstance(eos, (list, tuple)) else {int(eos)}


class ProgressSink(Protocol):
    """Where generation reports progress (env.progress.Progress)."""

    def update(self, n: int = 1, *, tokens: int = 0) -> None: ...


class _TokenCounter:
    """A stopping criterion that never stops anything: after each decoding step it tells `progress` how many
    tokens were generated and which rows just finished on a stop token; `finish()` reports the rows cut
    by max_new_tokens. generate() stops rows on its own eos criteria, so the completions do not change."""

    def __init__(self, rows: int, stops: set[int], progress: ProgressSink) -> None:
        self.open = [True] * rows
        self.stops = stops
        self.progress = progress

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        last = input_ids[:, -1].tolist()
        generating = sum(self.open)
        finished = 0
        for i, token in enumerate(last):
            if self.open[i] and token in self.stops:
                self.open[i] = False
                finished += 1
        self.progress.update(finished, tokens=generating)
        return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)

    def finish(self) -> None:
        self.progress.update(sum(self.open))
        self.open = [False] * len(self.open)


class HFEngine:
    """Batched generation with an HF causal LM (a PEFT model works too).

    Args:
        model: the policy, already on its device (evaluation during training passes the live model).
        tokenizer: its tokenizer; prompts are chat-templated text, so no special tokens are added.
        batch_size: prompts generated together.
        prefix_cache: share the prompts' common prefix (off = naive batched generation, the baseline).
        progress: an `env.progress.Progress` (anything with `update(n, tokens=k)`): told of every prompt
            finished (on its stop token, or at the end of its batch) and of the tokens generated, as they come.
    """

    name = "hf"

    def __init__(self, model: Any, tokenizer: Any, *, batch_size: int = 32, prefix_cache: bool = True,
                 progress: ProgressSink | None = None) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.prefix_cache = prefix_cache
        self.progress = progress
        self.last_prefix_tokens = 0
        """Common prefix length used by the latest generate() call (0: generated naively)."""

    @classmethod
    def load(cls, path: str, *, adapter: str | None = None, dtype: str = "auto", device: str = "auto",
             **kwargs: Any) -> HFEngine:
        """Load a model directory or hub id, optionally with a LoRA adapter on it, in eval mode."""
        from rl.models import pick_device, torch_dtype

        dev = pick_device(device)
        torch_dt = torch_dtype(dtype, dev)
        from transformers import AutoModelForCausalLM

        from rl.models import load_tokenizer

        tok_source = adapter if adapter and (Path(adapter) / "tokenizer_config.json").exists() else path
        tokenizer = load_tokenizer(tok_source)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dt)
        if adapter:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, adapter)
        model.to(dev).eval()
        return cls(model, tokenizer, **kwargs)

    def close(self) -> None:
        """Drop the model; frees CUDA memory when it was on a GPU."""
        import gc

        import torch

        self.model = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def generate(self, prompts: Sequence[str], *, max_new_tokens: int, temperature: float, seed: int) -> list[str]:
        """One completion per prompt (greedy when temperature == 0), sampled from the prompt's own seeded
        stream; the caller's RNG state is untouched."""
        if not prompts:
            return []
        ids = self.tokenizer(list(prompts), add_special_tokens=False)["input_ids"]
        out = self.generate_ids(ids, max_new_tokens=max_new_tokens, temperature=temperature,
                                seeds=[prompt_seed(seed, p) for p in prompts])
        return self.tokenizer.batch_decode([g.ids for g in out], skip_special_tokens=True)

    def generate_ids(self, prompts: Sequence[Sequence[int]], *, max_new_tokens: int, temperature: float,
                     seeds: Sequence[int]) -> list[Generated]:
        """Generate from token ids: one `Generated` per prompt, row i sampled from its own stream
        `seeds[i]` (so its tokens do not depend on the rest of the batch); greedy when temperature == 0.
        The caller's RNG state is untouched."""
        import torch

        if len(seeds) != len(prompts):
            raise ValueError(f"{len(seeds)} seeds for {len(prompts)} prompts")
        if not prompts:
            return []
        ids = [list(p) for p in prompts]
        device = next(self.model.parameters()).device
        devices = [device.index or 0] if device.type == "cuda" else []
        stops = stop_token_ids(self.model, self.tokenizer)
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            n_prefix = common_prefix_len(ids) if self.prefix_cache and supports_prefix_cache(self.model) else 0
            if n_prefix < MIN_PREFIX_TOKENS:
                n_prefix = 0
            self.last_prefix_tokens = n_prefix
            prefix_cache = self._encode_prefix(ids[0][:n_prefix], device) if n_prefix else None
            out: list[Generated] = []
            for start in range(0, len(ids), self.batch_size):
                batch = ids[start : start + self.batch_size]
                out.extend(self._generate_batch(batch, n_prefix, prefix_cache, device, max_new_tokens, temperature,
                                                seeds[start : start + self.batch_size], stops))
        return out

    def _encode_prefix(self, prefix: list[int], device: Any) -> Any:
        import torch

        return self.model(input_ids=torch.tensor([prefix], device=device), use_cache=True).past_key_values

    def _generate_batch(self, batch: list[list[int]], n_prefix: int, prefix_cache: Any, device: Any,
                        max_new_tokens: int, temperature: float, seeds: Sequence[int],
                        stops: set[int]) -> list[Generated]:
        import torch
        from transformers import LogitsProcessorList, StoppingCriteriaList

        pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        suffixes = [seq[n_prefix:] for seq in batch]
        width = max(len(s) for s in suffixes)
        prefix = batch[0][:n_prefix]
        # Pads sit between the shared prefix and each suffix (left padding when there is no prefix).
        input_ids = torch.tensor([prefix + [pad_id] * (width - len(s)) + s for s in suffixes], device=device)
        mask = torch.tensor([[1] * n_prefix + [0] * (width - len(s)) + [1] * len(s) for s in suffixes], device=device)
        kwargs: dict[str, Any] = {}
        if prefix_cache is not None:
            cache = copy.deepcopy(prefix_cache)
            cache.batch_repeat_interleave(len(batch))
            kwargs["past_key_values"] = cache
        # Always greedy decoding; sampling comes from the per-row Gumbel noise (module docstring).
        picker = RowGumbel(seeds, temperature)
        counter = _TokenCounter(len(batch), stops, self.progress) if self.progress is not None else None
        if counter is not None:
            kwargs["stopping_criteria"] = StoppingCriteriaList([counter])
        generated = self.model.generate(input_ids=input_ids, attention_mask=mask, max_new_tokens=max_new_tokens,
                                        pad_token_id=pad_id, do_sample=False, temperature=None, top_p=None,
                                        top_k=None, logits_processor=LogitsProcessorList([picker]), **kwargs)
        if counter is not None:
            counter.finish()
        new = generated[:, input_ids.shape[1]:].tolist()
        logprobs = torch.stack(picker.logprobs, dim=1).tolist() if picker.logprobs else [[] for _ in new]
        out: list[Generated] = []
        for row, lps in zip(new, logprobs, strict=True):
            end = next((i + 1 for i, t in enumerate(row) if t in stops), None)
            out.append(Generated(ids=row[:end] if end else row, logprobs=lps[:end] if end else lps[:len(row)],
                                 stopped=end is not None))
        return out
