"""GRPO log-probabilities with the shared prompt prefix run once (rl/backends/trl_prefix.py) equal TRL's
per-row computation, values and gradients, on rows with different queries and completion lengths."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import torch

from env.config import EnvConfig
from env.datasets import load_queries
from env.episode import Episode
from env.prompts import render_system_prompt
from rl.backends.trl_prefix import prefix_len, shared_prefix_logps
from rl.prompting import render_prompt

ENV = EnvConfig(prompt="helpful_only_brief_v1")
TEMPERATURE = 0.7


@pytest.fixture(scope="module")
def tok() -> Any:
    from rl.organism.tokenizer import train_tokenizer

    queries = load_queries(ENV.dataset)
    return train_tokenizer([render_system_prompt("default", ENV.prompt)] + [q.text for q in queries], vocab_size=600)


def _model(tok: Any, seed: int = 0) -> Any:
    from transformers import LlamaConfig, LlamaForCausalLM
    from trl.trainer.utils import add_fused_lm_head

    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                      initializer_range=0.1)
    model = LlamaForCausalLM(cfg)
    add_fused_lm_head(model, temperature=TEMPERATURE, outputs=("log_probs", "entropy"))
    return model


def _batch(tok: Any, completion_lens: tuple[int, ...] = (7, 3, 5)) -> tuple[Any, Any, int]:
    """GRPOTrainer's layout: left-padded prompts (different queries) then right-padded completions."""
    queries = load_queries(ENV.dataset)
    prompts = [tok(render_prompt(tok, Episode(id=q.id, query=q.text, tier="free"), ENV),
                   add_special_tokens=False)["input_ids"] for q in queries[: len(completion_lens)]]
    gen = torch.Generator().manual_seed(1)
    comps = [torch.randint(300, len(tok), (n,), generator=gen).tolist() for n in completion_lens]
    p_w, c_w = max(map(len, prompts)), max(completion_lens)
    pad = tok.pad_token_id
    ids = [[pad] * (p_w - len(p)) + p + c + [pad] * (c_w - len(c)) for p, c in zip(prompts, comps, strict=True)]
    mask = [[0] * (p_w - len(p)) + [1] * (len(p) + len(c)) + [0] * (c_w - len(c))
            for p, c in zip(prompts, comps, strict=True)]
    return torch.tensor(ids), torch.tensor(mask), c_w


def _trl(model: Any, ids: Any, mask: Any, keep: int, batch_size: int) -> tuple[Any, Any]:
    from accelerate import Accelerator
    from trl import GRPOTrainer

    fake = SimpleNamespace(accelerator=Accelerator(cpu=True))
    logps, ent, _ = GRPOTrainer._get_per_token_logps_and_entropies(fake, model, ids, mask, keep, batch_size=batch_size,
                                                                  compute_entropy=True)
    return logps, ent


def _ours(model: Any, ids: Any, mask: Any, keep: int, batch_size: int, pad: int) -> tuple[Any, Any]:
    from accelerate import Accelerator

    out = shared_prefix_logps(model, ids, mask, keep, batch_size=batch_size, compute_entropy=True,
                              autocast=Accelerator(cpu=True).autocast, pad_id=pad)
    assert out is not None
    return out


def _lora(model: Any) -> Any:
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(3)
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                                  task_type="CAUSAL_LM"))
    gen = torch.Generator().manual_seed(4)
    for name, p in peft_model.named_parameters():
        if "lora_B" in name:  # B starts at zero: give it values, so gradients reach A too
            torch.nn.init.normal_(p, std=0.1, generator=gen)
    return peft_model


@pytest.mark.parametrize(("batch_size", "lora"), [(3, False), (2, False), (3, True)])
def test_values_and_gradients_match_trl(tok: Any, batch_size: int, lora: bool) -> None:
    ids, mask, keep = _batch(tok)
    n, _ = prefix_len(ids, mask, keep)
    assert n > 100  # the system prompt is shared
    completion_mask = mask[:, -keep:].bool()
    results = []
    for fn in (_trl, _ours):
        model = _lora(_model(tok)) if lora else _model(tok)
        model.train()  # no dropout in this config (LoRA dropout 0), so train mode is deterministic
        args = (model, ids, mask, keep, batch_size) + ((tok.pad_token_id,) if fn is _ours else ())
        logps, ent = fn(*args)
        loss = (logps * completion_mask).sum() + 0.1 * (ent * completion_mask).sum()
        loss.backward()
        results.append((logps.detach(), ent.detach(),
                        {k: p.grad.clone() for k, p in model.named_parameters() if p.requires_grad}))
    (ref, ref_ent, ref_grads), (got, got_ent, got_grads) = results
    # float32: the same sums in another order (KV cache vs one pass; shifted RoPE positions), ~1e-6 apart.
    assert torch.allclose(got[completion_mask], ref[completion_mask], atol=1e-4)
    assert torch.allclose(got_ent[completion_mask], ref_ent[completion_mask], atol=1e-4)
    assert (got[~completion_mask] == 0).all()
    for name, g in ref_grads.items():
        assert torch.allclose(got_grads[name], g, rtol=1e-3, atol=1e-5), name


def test_rows_without_a_common_prefix_are_left_to_trl(tok: Any) -> None:
    ids, mask, keep = _batch(tok)
    ids[1, mask[1].argmax()] = 5  # a different first prompt token in one row: nothing shared
    assert prefix_len(ids, mask, keep)[0] == 0
    from accelerate import Accelerator

    assert shared_prefix_logps(_model(tok), ids, mask, keep, batch_size=3, compute_entropy=False,
                               autocast=Accelerator(cpu=True).autocast, pad_id=tok.pad_token_id) is None
