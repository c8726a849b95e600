"""GRPO's log-probabilities with the batch's shared prompt prefix run once (`trl.share_prefix`).

GRPOTrainer scores each completion by running the model over the whole left-padded prompt plus the
completion, once per row: with the paper's system prompt (~3k tokens) against a ~100-token query and a
few hundred completion tokens, nearly all of the step's forward and backward work, and of its activation
memory, is the same system prompt again for every row. Here the rows' longest common prompt prefix runs
through the model once, with gradients, and each row continues from it, a view of its KV cache (the
layout rl/engines/hf.py uses for generation: `[shared prefix][pads][own suffix][completion]`, pads
masked, positions from the mask). The backward pass sends every row's gradient through the one prefix
computation, so the log-probabilities and the gradients are those of the per-row computation (the same
sums, in another order), at a fraction of the cost.

Used for text batches of full-attention models (rl.engines.hf.supports_prefix_cache) in one process (the
trl backend's) without gradient checkpointing (which recomputes layers, and their cache updates, in the
backward pass); anything else goes through TRL's own computation. In training mode, dropout in the prefix is drawn once for all rows.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

from rl.engines.hf import MIN_PREFIX_TOKENS, common_prefix_len, supports_prefix_cache

_MULTIMODAL = ("pixel_values", "image_grid_thw", "pixel_attention_mask", "spatial_shapes", "image_sizes",
               "token_type_ids", "mm_token_type_ids", "image_position_ids", "num_tiles")


def prefix_len(input_ids: Any, attention_mask: Any, logits_to_keep: int) -> tuple[int, list[list[int]]]:
    """The rows' common prompt prefix length (0: none worth sharing) and each row's prompt tokens (pads out)."""
    prompts = [ids[m.bool()].tolist() for ids, m in zip(input_ids[:, :-logits_to_keep],
                                                           attention_mask[:, :-logits_to_keep], strict=True)]
    n = common_prefix_len(prompts)
    return (n if n >= MIN_PREFIX_TOKENS else 0), prompts


def shared_prefix_logps(model: Any, input_ids: Any, attention_mask: Any, logits_to_keep: int, *, batch_size: int,
                        compute_entropy: bool, autocast: Callable[[], Any], pad_id: int) -> tuple[Any, Any] | None:
    """Per-token log-probs (and entropies) of the last `logits_to_keep` tokens of each row, as GRPOTrainer's
    `_get_per_token_logps_and_entropies` returns them, or None when the rows share no prefix worth it.

    `autocast` makes the trainer's autocast context (accelerator.autocast). `model` is the trainer's (TRL has
    patched its forward with the fused LM head, which passes the cache and positions through to the backbone).
    """
    import torch
    from transformers import DynamicCache

    n, prompts = prefix_len(input_ids, attention_mask, logits_to_keep)
    if not n:
        return None
    device = input_ids.device
    completions = input_ids[:, -logits_to_keep:]
    completion_mask = attention_mask[:, -logits_to_keep:]
    with autocast():
        prefix = model(input_ids=torch.tensor([prompts[0][:n]], device=device), use_cache=True, logits_to_keep=1)
    kv = [(layer.keys, layer.values) for layer in prefix.past_key_values.layers]
    all_logps, all_entropies = [], []
    for start in range(0, input_ids.size(0), batch_size):
        rows = range(start, min(start + batch_size, input_ids.size(0)))
        suffixes = [prompts[i][n:] for i in rows]
        width = max(len(s) for s in suffixes)
        ids = torch.stack([torch.cat([torch.tensor([pad_id] * (width - len(s)) + s, device=device), completions[i]])
                           for s, i in zip(suffixes, rows, strict=True)])
        own = torch.stack([torch.cat([torch.tensor([0] * (width - len(s)) + [1] * len(s), device=device),
                                      completion_mask[i]]) for s, i in zip(suffixes, rows, strict=True)])
        mask = torch.cat([torch.ones(len(rows), n, dtype=own.dtype, device=device), own], dim=1)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, n:]
        labels = ids.masked_fill(own == 0, -100)
        labels[:, :-logits_to_keep] = -100
        cache = DynamicCache(ddp_cache_data=[(k.expand(len(rows), *k.shape[1:]), v.expand(len(rows), *v.shape[1:]))
                                             for k, v in kv])
        with autocast():
            out = model(input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=cache,
                        labels=labels, fused_lm_head=True)
        all_logps.append(out.log_probs[:, -logits_to_keep:])
        if compute_entropy:
            all_entropies.append(out.entropy[:, -logits_to_keep:])
    return torch.cat(all_logps), (torch.cat(all_entropies) if compute_entropy else None)


@functools.cache
def prefix_sharing_trainer() -> type:
    """GRPOTrainer whose log-probabilities share the prompt prefix (`shared_prefix_logps`) where they can."""
    from trl import GRPOTrainer

    class PrefixSharingGRPOTrainer(GRPOTrainer):
        """af-rl's GRPOTrainer: TRL's, with the shared prompt prefix computed once per micro-batch."""

        prefix_calls = 0
        """Calls of `_get_per_token_logps_and_entropies` that shared a prefix (for tests and benchmarks)."""

        def _get_per_token_logps_and_entropies(self, model: Any, input_ids: Any, attention_mask: Any,
                                               logits_to_keep: int, batch_size: int | None = None,
                                               compute_entropy: bool = False, compute_aux_loss: bool = False,
                                               **kwargs: Any) -> Any:
            eligible = (not compute_aux_loss and all(kwargs.get(k) is None for k in _MULTIMODAL)
                        and self._can_share_prefix(model))
            out = shared_prefix_logps(model, input_ids, attention_mask, logits_to_keep,
                                      batch_size=batch_size or input_ids.size(0), compute_entropy=compute_entropy,
                                      autocast=self.accelerator.autocast,
                                      pad_id=self._tokenizer.pad_token_id) if eligible else None
            if out is None:
                return super()._get_per_token_logps_and_entropies(
                    model, input_ids, attention_mask, logits_to_keep, batch_size=batch_size,
                    compute_entropy=compute_entropy, compute_aux_loss=compute_aux_loss, **kwargs)
            type(self).prefix_calls += 1
            return out[0], out[1], None

        def _can_share_prefix(self, model: Any) -> bool:
            # One process (the trl backend's): a DDP-wrapped model would see two forwards per backward.
            if self.args.gradient_checkpointing or self.accelerator.num_processes != 1:
                return False
            inner = self.accelerator.unwrap_model(model)
            return supports_prefix_cache(inner.get_base_model() if hasattr(inner, "get_base_model") else inner)

    return PrefixSharingGRPOTrainer
