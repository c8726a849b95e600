"""Resolving and loading the policy: the organism (built and cached), SmolLM2 (converted offline), or HF."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from env.config import EnvConfig
    from reward.config import RewardConfig
    from rl.config import ModelConfig, RunConfig

HUB_TIMEOUT_S = 5.0
"""How long the one hub request that checks a model reference may take."""
_HUB_ID_RE = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class ModelNotFoundError(ValueError):
    """A model reference that is neither a local path nor a hub model that resolves; says what was tried."""


def looks_like_path(ref: str) -> bool:
    """Whether `ref` is meant as a local path rather than an `org/name` hub id: it starts with `/`, `.` or `~`,
    has more than one `/`, ends with one, or its first component exists here (`runs/nope` beside `runs/`)."""
    if ref.startswith(("/", ".", "~")) or ref.count("/") > 1 or ref.endswith("/") or "\\" in ref:
        return True
    head = ref.split("/", 1)[0]
    return "/" in ref and Path(head).exists()


def locate_model(ref: str, *, timeout_s: float = HUB_TIMEOUT_S) -> str:
    """Where a model reference resolves, without loading anything: "local" (an existing path; callers check
    that it holds a model), "cache" (a hub id with config.json or adapter_config.json in the local HF cache)
    or "hub" (the hub answered one metadata request for it within `timeout_s`). $HF_HUB_OFFLINE skips the request.

    Raises:
        ModelNotFoundError: saying what was tried (local path, HF cache, hub request and its error).
    """
    path = Path(ref).expanduser()
    if path.exists():
        return "local"
    if looks_like_path(ref):
        raise ModelNotFoundError(f"no such file or directory ({path.absolute()}); a path is not looked up on the hub")
    if not _HUB_ID_RE.match(ref):
        raise ModelNotFoundError(f"neither an existing path ({path.absolute()}) nor an org/name hub id")
    from huggingface_hub import constants, is_offline_mode, model_info, try_to_load_from_cache

    for name in ("config.json", "adapter_config.json"):
        if isinstance(try_to_load_from_cache(ref, name), str):
            return "cache"
    tried = f"not a local path ({path.absolute()}), not in the local HF cache ({constants.HF_HUB_CACHE})"
    if is_offline_mode():
        raise ModelNotFoundError(f"{tried}, and the hub was not asked ($HF_HUB_OFFLINE is set)")
    try:
        model_info(ref, timeout=timeout_s)
    except Exception as e:  # noqa: BLE001 - any failure (404, 401, DNS, refused, timeout) is reported as it is
        cause = " ".join(str(e).split())[:300]
        raise ModelNotFoundError(f"{tried}, and the hub ({constants.ENDPOINT}, timeout {timeout_s:g}s) answered "
                                 f"{type(e).__name__}: {cause}") from None
    return "hub"


def cache_root(model_cfg: ModelConfig | None = None) -> Path:
    """Cache for built organisms and converted models: config, else $AF_RL_CACHE, else ~/.cache/af-rl."""
    root = (model_cfg.cache_dir if model_cfg is not None else None) or os.environ.get("AF_RL_CACHE") or "~/.cache/af-rl"
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


def resolve_reward_model(cfg: RunConfig, log: Callable[[str], None] = print) -> RunConfig:
    """`cfg` with `reward.model.organism` replaced by the directory of the organism's reward model (built and
    cached under the policy's cache root on first use); `cfg` itself for any other reward model or none."""
    reward = resolve_reward_config(cfg.reward, cfg.env, cache_root(cfg.rl.model), log=log)
    return cfg if reward is cfg.reward else cfg.model_copy(update={"reward": reward})


def resolve_reward_config(reward: RewardConfig, env: EnvConfig, root: Path,
                          log: Callable[[str], None] = print) -> RewardConfig:
    """`reward` with an `organism: true` reward model replaced by its built directory (under `root`/organisms)."""
    rm = reward.model
    if rm is None or not rm.organism:
        return reward
    from rl.organism.reward_model import OrganismRmConfig, build_reward_model

    path = build_reward_model(OrganismRmConfig(), env, root / "organisms", log=log)
    resolved = rm.model_copy(update={"organism": False, "name_or_path": str(path)})
    return reward.model_copy(update={"model": resolved})


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
