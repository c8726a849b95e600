"""Resolving and loading the policy: the organism (built and cached), SmolLM2 (converted offline), or HF."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from rl.config import ModelConfig, RunConfig


def cache_root(model_cfg: ModelConfig) -> Path:
    """Cache for built organisms and converted models: config, else $AF_RL_CACHE, else ~/.cache/af-rl."""
    root = model_cfg.cache_dir or os.environ.get("AF_RL_CACHE") or "~/.cache/af-rl"
    return Path(root).expanduser().resolve()


def resolve_model_path(cfg: RunConfig, log: Callable[[str], None] = print) -> str:
    """A local directory (or hub id) that from_pretrained can load; builds/converts on first use."""
    m = cfg.rl.model
    if m.source == "organism":
        from rl.organism.build import build_organism

        assert m.organism is not None  # filled in by ModelConfig's validator
        return str(build_organism(m.organism, cfg.env, cache_root(m) / "organisms", log=log))
    if m.source == "smollm2":
        from rl.smollm2 import ensure_smollm2

        return str(ensure_smollm2(cache_root(m)))
    assert m.name_or_path is not None
    return m.name_or_path


def pick_device(requested: str) -> str:
    """'cuda' when asked for or (auto) available, else 'cpu'. Asking for CUDA without one is an error."""
    import torch

    if requested == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("trl.device is 'cuda' but torch sees no CUDA device")
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return requested


def torch_dtype(name: str, device: str) -> Any:
    """The torch dtype for rl.model.dtype on `device` (auto: bf16 on CUDA, fp32 on CPU)."""
    import torch

    if name == "auto":
        return torch.bfloat16 if device == "cuda" else torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16}[name]


def load_tokenizer(path: str) -> Any:
    """Tokenizer with left padding and a pad token (falls back to eos), as batched generation needs."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_model(path: str, dtype: Any, device: str) -> Any:
    """AutoModelForCausalLM on `device`; a LoRA adapter directory loads with its base model."""
    from transformers import AutoModelForCausalLM

    if (Path(path) / "adapter_config.json").exists():
        from peft import AutoPeftModelForCausalLM

        model = AutoPeftModelForCausalLM.from_pretrained(path, dtype=dtype, is_trainable=True)
    else:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    return model.to(device)
