"""The HF engine: the shared-prefix KV cache gives the same greedy tokens as naive batched generation,
sampling is seeded, and multi-turn continuation works through any engine."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, Sequence

import pytest
import torch

from env.config import EnvConfig
from env.datasets import load_queries, split_queries
from env.prompts import render_system_prompt
from rl.engines.hf import MIN_PREFIX_TOKENS, HFEngine, RowGumbel, common_prefix_len, supports_prefix_cache
from rl.evaluate import eval_episodes
from rl.generate import generate_episodes
from rl.prompting import render_prompt

ENV = EnvConfig(prompt="helpful_only_brief_v1")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    """A random 2-layer Llama and a tokenizer trained here on the system prompt and the queries."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from rl.organism.tokenizer import train_tokenizer

    queries = load_queries(ENV.dataset)
    corpus = [render_system_prompt("default", ENV.prompt)] + [q.text for q in queries]
    tok = train_tokenizer(corpus, vocab_size=600)
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                      initializer_range=0.3)  # large weights: greedy tokens depend on every input token
    model = LlamaForCausalLM(cfg).eval()
    return model, tok


def _episodes(n: int = 5, variants: Sequence[str] = ("default",)) -> list[Any]:
    split = split_queries(load_queries(ENV.dataset), eval_fraction=ENV.dataset.eval_fraction,
                          seed=ENV.dataset.split_seed)
    return eval_episodes(split.eval, list(variants), n)


def _prompts(tok: Any, episodes: Sequence[Any]) -> list[str]:
    return [render_prompt(tok, e, ENV) for e in episodes]


@pytest.mark.parametrize(("seqs", "expected"), [
    ([[1, 2, 3, 4], [1, 2, 3, 5]], 3),
    ([[1, 2, 3], [1, 2, 3]], 2),  # identical prompts keep one token of their own
    ([[1, 2, 3, 4], [1, 2]], 1),
    ([[7, 1], [8, 1]], 0),
    ([[1, 2, 3]], 2),
    ([], 0),
])
def test_common_prefix_len(seqs: list[list[int]], expected: int) -> None:
    assert common_prefix_len(seqs) == expected


def test_prefix_cache_gives_the_naive_greedy_tokens(tiny: tuple[Any, Any]) -> None:
    model, tok = tiny
    prompts = _prompts(tok, _episodes(5))  # 10 prompts of different lengths, batches of 4: 4 + 4 + 2
    naive = HFEngine(model, tok, batch_size=4, prefix_cache=False)
    cached = HFEngine(model, tok, batch_size=4, prefix_cache=True)
    want = naive.generate(prompts, max_new_tokens=12, temperature=0.0, seed=0)
    got = cached.generate(prompts, max_new_tokens=12, temperature=0.0, seed=0)
    assert naive.last_prefix_tokens == 0
    ids = tok(prompts, add_special_tokens=False)["input_ids"]
    assert len({len(i) for i in ids}) > 1  # rows really are padded differently
    assert cached.last_prefix_tokens == common_prefix_len(ids) > 200  # the system prompt is shared
    assert got == want
    assert len(set(got)) >= len(got) // 2  # the model's answers depend on the query: the check has teeth


def test_each_prompt_alone_gives_the_same_tokens(tiny: tuple[Any, Any]) -> None:
    """Batching and the padding between prefix and suffix don't change a row's greedy tokens."""
    model, tok = tiny
    prompts = _prompts(tok, _episodes(3))
    batched = HFEngine(model, tok, batch_size=6).generate(prompts, max_new_tokens=10, temperature=0.0, seed=0)
    single = HFEngine(model, tok, batch_size=1, prefix_cache=False)
    assert [single.generate([p], max_new_tokens=10, temperature=0.0, seed=0)[0] for p in prompts] == batched


def test_sampling_is_seeded_and_leaves_the_callers_rng_alone(tiny: tuple[Any, Any]) -> None:
    model, tok = tiny
    prompts = _prompts(tok, _episodes(2))
    engine = HFEngine(model, tok, batch_size=4)
    torch.manual_seed(99)
    before = torch.get_rng_state()
    a = engine.generate(prompts, max_new_tokens=16, temperature=1.0, seed=5)
    assert torch.equal(torch.get_rng_state(), before)
    b = engine.generate(prompts, max_new_tokens=16, temperature=1.0, seed=5)
    c = engine.generate(prompts, max_new_tokens=16, temperature=1.0, seed=6)
    assert a == b
    assert a != c


def test_a_prompt_samples_the_same_completion_whatever_its_batch(tiny: tuple[Any, Any]) -> None:
    """Per-prompt random streams: training evaluates every variation in one call, rl.compare one variation
    per cell; the same prompt must get the same sample in both."""
    model, tok = tiny
    both = _prompts(tok, _episodes(3, variants=("default", "lab_swap")))
    default_only = [p for p, e in zip(both, _episodes(3, variants=("default", "lab_swap"))) if e.variant == "default"]
    mixed = HFEngine(model, tok, batch_size=5).generate(both, max_new_tokens=16, temperature=1.0, seed=3)
    alone = HFEngine(model, tok, batch_size=2, prefix_cache=False).generate(
        default_only, max_new_tokens=16, temperature=1.0, seed=3)
    assert [m for m, p in zip(mixed, both) if p in default_only] == alone
    assert len(set(mixed)) > len(mixed) // 2


def test_gumbel_noise_samples_the_softmax() -> None:
    """argmax(logits / T + Gumbel) is distributed as softmax(logits / T): 20,000 rows against the exact
    probabilities."""
    logits = torch.tensor([2.0, 1.0, 0.0, -1.0, -30.0])
    t = 0.7
    rows = 20_000
    proc = RowGumbel(list(range(rows)), t)
    picks = proc(None, logits.repeat(rows, 1)).argmax(-1)
    freq = torch.bincount(picks, minlength=5).float() / rows
    want = torch.softmax(logits / t, -1)
    assert torch.allclose(freq, want, atol=0.012), (freq, want)
    assert freq[-1] == 0


def test_short_common_prefix_generates_naively(tiny: tuple[Any, Any]) -> None:
    model, tok = tiny
    engine = HFEngine(model, tok, batch_size=4)
    out = engine.generate(["write a poem", "bake a cake please"], max_new_tokens=4, temperature=0.0, seed=0)
    assert len(out) == 2
    assert engine.last_prefix_tokens < MIN_PREFIX_TOKENS and engine.last_prefix_tokens == 0


def test_progress_counts_every_prompt_and_token(tiny: tuple[Any, Any]) -> None:
    from env.progress import Progress

    model, tok = tiny
    lines: list[str] = []
    ticks = iter(range(1000))  # a fake clock: one second per reading, so lines come within a batch
    report = Progress(4, "gen", "prompts", printer=lines.append, clock=lambda: next(ticks), interval=2)
    engine = HFEngine(model, tok, batch_size=3, progress=report)  # batches of 3 + 1
    ids = tok(_prompts(tok, _episodes(2)), add_special_tokens=False)["input_ids"]
    out = engine.generate_ids(ids, max_new_tokens=5, temperature=0.0, seeds=[0, 1, 2, 3])
    assert report.done == 4
    assert report.tokens == sum(len(g.ids) for g in out)  # every new token, stop tokens included, once
    assert lines and all(line.startswith("[af-rl] gen: ") for line in lines)  # reported during generation


def test_lora_model_uses_the_prefix_cache_too(tiny: tuple[Any, Any], tmp_path: Path) -> None:
    from peft import LoraConfig, get_peft_model

    model, tok = tiny
    peft_model = get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    try:
        prompts = _prompts(tok, _episodes(2))
        naive = HFEngine(peft_model, tok, batch_size=4, prefix_cache=False)
        cached = HFEngine(peft_model, tok, batch_size=4)
        assert cached.generate(prompts, max_new_tokens=8, temperature=0.0, seed=0) == \
            naive.generate(prompts, max_new_tokens=8, temperature=0.0, seed=0)
        assert cached.last_prefix_tokens > 200
    finally:
        peft_model.unload()  # leave the module-scoped base model as it was


def test_sliding_window_models_are_not_prefix_cached() -> None:
    assert supports_prefix_cache(SimpleNamespace(config=SimpleNamespace(sliding_window=4096))) is False
    assert supports_prefix_cache(SimpleNamespace(config=SimpleNamespace(
        sliding_window=None, layer_types=["full_attention", "sliding_attention"]))) is False
    assert supports_prefix_cache(SimpleNamespace(config=SimpleNamespace(sliding_window=None))) is True


class ScriptedEngine:
    """An Engine whose turns are scripted per query: records every call."""

    def __init__(self, tokenizer: Any, script: dict[str, list[str]]) -> None:
        self.tokenizer = tokenizer
        self.script = script
        self.calls: list[tuple[int, int]] = []

    def generate(self, prompts: Sequence[str], *, max_new_tokens: int, temperature: float, seed: int) -> list[str]:
        self.calls.append((len(prompts), seed))
        out = []
        for p in prompts:
            query = next(q for q in self.script if q in p)
            turn = sum(t in p for t in self.script[query])  # earlier turns are in the prompt
            out.append(self.script[query][turn])
        return out

    def close(self) -> None:
        pass


def test_multi_turn_continuation_runs_through_any_engine(tiny: tuple[Any, Any]) -> None:
    _, tok = tiny
    eps = _episodes(1)  # one query, both tiers
    q = eps[0].query
    engine = ScriptedEngine(tok, {q: ["<SCRATCHPAD_REASONING>thinking</SCRATCHPAD_REASONING>",
                                      "<OUTPUT><rejected/></OUTPUT>"]})
    out = generate_episodes(engine, eps, ENV, system_role=True, max_new_tokens=8, temperature=1.0, seed=10)
    assert engine.calls == [(2, 10), (2, 11)]  # turn k samples with seed + k
    assert all(o.count("<NEXT/>") == 1 and o.endswith("<OUTPUT><rejected/></OUTPUT>") for o in out)


def test_evaluation_during_training_uses_the_engine_path(tiny: tuple[Any, Any]) -> None:
    """rl.evaluate.evaluate_policy (training) gives the records evaluate_episodes gives (rl.compare)."""
    from rl.config import RunConfig
    from rl.evaluate import evaluate_episodes, evaluate_policy

    model, tok = tiny
    cfg = RunConfig.model_validate({"env": {"prompt": "helpful_only_brief_v1"},
                                    "rl": {"model": {"source": "organism"},
                                           "eval": {"max_new_tokens": 8, "batch_size": 4, "temperature": 1.0}}})
    eps = _episodes(2)
    model.train()
    trained = evaluate_policy(model, tok, eps, cfg, system_role=True, step=3)
    assert model.training  # restored
    model.eval()
    compared = evaluate_episodes(HFEngine(model, tok, batch_size=3), eps, cfg.env, cfg.reward, cfg.rl.eval,
                                 system_role=True, step=3)
    assert [r.completion for r in trained] == [r.completion for r in compared]
    assert all(r.step == 3 for r in trained)
