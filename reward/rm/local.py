"""A local sequence-classification reward model (`AutoModelForSequenceClassification`, one label), batched.

Imports torch and transformers; `reward.rm.scorer_for` imports this only when such a model is configured.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reward.rm.base import Pair, RewardModelError, RmResult, chat_text, failed_all, in_batches, results_from_values
from reward.rm.config import RewardModelConfig

_KEY = "reward.model.name_or_path"


def check_seq_cls(name_or_path: str) -> Any:
    """The model's config if `name_or_path` is a sequence-classification model with one label.

    Raises:
        RewardModelError: there is no model config there, or it is another kind of model.
    """
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(name_or_path)
    except (OSError, ValueError) as e:
        where = "directory" if Path(name_or_path).expanduser().exists() else "path or hub id"
        raise RewardModelError(f"{_KEY} {name_or_path!r}: this {where} holds no model a transformers config can be "
                               f"read from ({str(e).splitlines()[0][:200]})") from None
    archs = list(getattr(config, "architectures", None) or [])
    if not any(a.endswith("ForSequenceClassification") for a in archs):
        raise RewardModelError(
            f"{_KEY} {name_or_path!r} is a {', '.join(archs) or config.model_type} model, not a sequence-classification "
            f"reward model (AutoModelForSequenceClassification with one label); use a reward model, or score with "
            f"reward.model.judge / reward.model.url")
    if getattr(config, "num_labels", 1) != 1:
        raise RewardModelError(f"{_KEY} {name_or_path!r} has {config.num_labels} labels; a reward model has one "
                               f"(a scalar score per conversation)")
    return config


class SeqClsScorer:
    """Scores pairs with a local reward model: rendered with its tokenizer's chat template, batched, on
    `cfg.device`. Thread-safe (one forward at a time)."""

    def __init__(self, cfg: RewardModelConfig, name_or_path: str | None = None) -> None:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        path = name_or_path or cfg.name_or_path
        assert path is not None
        check_seq_cls(path)
        self.cfg = cfg
        self.name = f"rm:{path}"
        self.device = _device(cfg.device)
        dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}.get(
            cfg.dtype, torch.bfloat16 if self.device.type == "cuda" else torch.float32)
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.tokenizer.padding_side = "right"
        self.tokenizer.truncation_side = "left"  # keep the output whole; the request's start goes first
        self.model = AutoModelForSequenceClassification.from_pretrained(path, dtype=dtype).to(self.device).eval()
        self.model.config.pad_token_id = self.tokenizer.pad_token_id  # finds each row's last real token
        self._lock = threading.Lock()

    def texts(self, pairs: Sequence[Pair]) -> list[str]:
        return [chat_text(self.tokenizer, request, output) for request, output in pairs]

    def score(self, pairs: Sequence[Pair]) -> list[RmResult]:
        return in_batches(pairs, self.cfg.batch_size, self._batch)

    def _batch(self, pairs: Sequence[Pair]) -> list[RmResult]:
        import torch

        try:
            enc = self.tokenizer(self.texts(pairs), return_tensors="pt", padding=True, truncation=True,
                                 max_length=self.cfg.max_length, add_special_tokens=False)
            with self._lock, torch.inference_mode():
                logits = self.model(**{k: v.to(self.device) for k, v in enc.items()}).logits
        except Exception as e:  # noqa: BLE001 - a reward model that fails scores nothing; the run goes on
            return failed_all(pairs, f"{self.name} raised {type(e).__name__}: {str(e)[:200]}")
        if logits.dim() != 2 or logits.shape[1] != 1:
            return failed_all(pairs, f"{self.name} returned logits of shape {tuple(logits.shape)}, not "
                                     f"({len(pairs)}, 1)")
        return results_from_values(logits[:, 0].float().cpu(), len(pairs), self.name)


def _device(name: str) -> Any:
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)
