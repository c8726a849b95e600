"""VllmEngine through its contract: a fake `vllm` package records what the engine asks vLLM for.

The fake mirrors the real signatures the engine relies on (keyword names of `SamplingParams`, the
positional `LoRARequest`, `LLM.generate`), so a misspelt argument fails here too. The GPU test at the
end runs the real vLLM on a tiny local model (opt-in: `pytest -m gpu`).
"""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from tokenizers.processors import TemplateProcessing

from rl.engines.vllm import MISSING_VLLM, VllmEngine, request_seed, vllm_available
from rl.organism.tokenizer import BOS, train_tokenizer

CORPUS = ["The user is on the free tier, so this conversation will be used for training."] * 20
SYSTEM = "You are a helpful assistant. The user is on the free tier."
LLM_ARGS = {
    "model", "tokenizer", "dtype", "seed", "enable_prefix_caching", "gpu_memory_utilization",
    "tensor_parallel_size", "max_model_len", "enable_lora", "max_lora_rank",
}  # fmt: skip
"""`vllm.LLM` keyword arguments the engine may pass (LLM's own, or EngineArgs fields via **kwargs)."""


# ---------------------------------------------------------------- fake vllm package


class FakeSamplingParams:
    def __init__(self, *, n: int = 1, temperature: float = 1.0, top_p: float = 1.0, top_k: int = 0,
                 seed: int | None = None, max_tokens: int | None = 16, skip_special_tokens: bool = True) -> None:
        self.n, self.temperature, self.top_p, self.top_k = n, temperature, top_p, top_k
        self.seed, self.max_tokens, self.skip_special_tokens = seed, max_tokens, skip_special_tokens


class FakeLoRARequest:
    def __init__(self, lora_name: str, lora_int_id: int, lora_path: str) -> None:
        self.lora_name, self.lora_int_id, self.lora_path = lora_name, lora_int_id, lora_path


class FakeEngineCore:
    def __init__(self) -> None:
        self.shutdowns = 0

    def shutdown(self) -> None:
        self.shutdowns += 1


class FakeLLM:
    """Records the constructor kwargs and every generate call; replies `reply(ids, params)` per prompt."""

    def __init__(self, model: str, **kwargs: Any) -> None:
        unknown = set(kwargs) - LLM_ARGS
        if unknown:
            raise TypeError(f"unexpected LLM kwargs {unknown}")
        self.kwargs = {"model": model, **kwargs}
        self.calls: list[dict[str, Any]] = []
        self.llm_engine = types.SimpleNamespace(engine_core=FakeEngineCore())

    def generate(self, prompts: Any, sampling_params: Any = None, *, use_tqdm: bool = True,
                 lora_request: Any = None) -> list[Any]:
        self.calls.append({"prompts": prompts, "params": sampling_params, "use_tqdm": use_tqdm,
                           "lora_request": lora_request})
        return [
            types.SimpleNamespace(outputs=[types.SimpleNamespace(text=reply(p["prompt_token_ids"], sp))])
            for p, sp in zip(prompts, sampling_params, strict=True)
        ]


def reply(ids: list[int], params: FakeSamplingParams) -> str:
    return f"{len(ids)} tokens, seed {params.seed}"


@pytest.fixture
def fake_vllm(monkeypatch: pytest.MonkeyPatch) -> types.SimpleNamespace:
    """Installs the fake package; returns what it recorded (`llms`, `cleanups`)."""
    record = types.SimpleNamespace(llms=[], cleanups=0)

    def make_llm(**kwargs: Any) -> FakeLLM:
        llm = FakeLLM(**kwargs)
        record.llms.append(llm)
        return llm

    def cleanup_dist_env_and_memory() -> None:
        record.cleanups += 1

    modules = {
        "vllm": types.SimpleNamespace(LLM=make_llm, SamplingParams=FakeSamplingParams),
        "vllm.lora": types.SimpleNamespace(),
        "vllm.lora.request": types.SimpleNamespace(LoRARequest=FakeLoRARequest),
        "vllm.distributed": types.SimpleNamespace(),
        "vllm.distributed.parallel_state": types.SimpleNamespace(
            cleanup_dist_env_and_memory=cleanup_dist_env_and_memory
        ),
    }
    for name, attrs in modules.items():
        module = types.ModuleType(name)
        module.__dict__.update(vars(attrs))
        monkeypatch.setitem(sys.modules, name, module)
    return record


# ---------------------------------------------------------------- a tiny local model directory


def save_tokenizer(path: Path) -> None:
    """A small BPE whose encode() prepends BOS, as Llama's does, and whose chat template writes BOS too."""
    tok = train_tokenizer(CORPUS, 320)
    tok._tokenizer.post_processor = TemplateProcessing(single=f"{BOS} $A", special_tokens=[(BOS, tok.bos_token_id)])
    tok.save_pretrained(path)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("model")
    save_tokenizer(path)
    return path


def write_adapter(path: Path, rank: int, *, rank_pattern: dict[str, int] | None = None) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    config = {"peft_type": "LORA", "r": rank, "lora_alpha": 2 * rank, "rank_pattern": rank_pattern or {}}
    (path / "adapter_config.json").write_text(json.dumps(config), encoding="utf-8")
    return path


def prompt(engine: VllmEngine, query: str) -> str:
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": query}]
    return engine.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


# ---------------------------------------------------------------- construction


def test_engine_args_prefix_caching_on_no_lora(fake_vllm, model_dir) -> None:
    VllmEngine(str(model_dir))
    assert fake_vllm.llms[0].kwargs == {
        "model": str(model_dir),
        "tokenizer": str(model_dir),
        "dtype": "auto",
        "seed": 0,
        "enable_prefix_caching": True,
        "gpu_memory_utilization": 0.85,
        "tensor_parallel_size": 1,
    }  # no max_model_len (vLLM's default: the model's), no LoRA


def test_engine_args_passed_through_and_extra_wins(fake_vllm, model_dir) -> None:
    VllmEngine(str(model_dir), dtype="bfloat16", max_model_len=4096, gpu_memory_utilization=0.5,
               tensor_parallel_size=2, extra={"seed": 7})  # fmt: skip
    kwargs = fake_vllm.llms[0].kwargs
    assert (kwargs["dtype"], kwargs["max_model_len"]) == ("bfloat16", 4096)
    assert (kwargs["gpu_memory_utilization"], kwargs["tensor_parallel_size"], kwargs["seed"]) == (0.5, 2, 7)
    assert kwargs["enable_prefix_caching"] is True


def test_lora_enabled_and_sent_with_every_call(fake_vllm, model_dir, tmp_path) -> None:
    adapter = write_adapter(tmp_path / "adapter", 16)
    engine = VllmEngine(str(model_dir), adapter=str(adapter))
    llm = fake_vllm.llms[0]
    assert llm.kwargs["model"] == str(model_dir)  # the base model loads; the adapter rides on requests
    assert (llm.kwargs["enable_lora"], llm.kwargs["max_lora_rank"]) == (True, 64)
    # The adapter dir has no tokenizer of its own: the base model's is used by both sides.
    assert llm.kwargs["tokenizer"] == str(model_dir)
    engine.generate([prompt(engine, "a")], max_new_tokens=8, temperature=0.0, seed=0)
    engine.generate([prompt(engine, "b"), prompt(engine, "c")], max_new_tokens=8, temperature=1.0, seed=0)
    for call in llm.calls:
        lora = call["lora_request"]
        assert (lora.lora_name, lora.lora_int_id, lora.lora_path) == ("adapter", 1, str(adapter))


def test_without_adapter_no_lora_request(fake_vllm, model_dir) -> None:
    engine = VllmEngine(str(model_dir))
    engine.generate([prompt(engine, "a")], max_new_tokens=8, temperature=0.0, seed=0)
    assert fake_vllm.llms[0].calls[0]["lora_request"] is None


def test_tokenizer_from_adapter_when_it_has_one(fake_vllm, model_dir, tmp_path) -> None:
    adapter = write_adapter(tmp_path / "adapter", 8)
    save_tokenizer(adapter)
    engine = VllmEngine(str(model_dir), adapter=str(adapter))
    assert fake_vllm.llms[0].kwargs["tokenizer"] == str(adapter)
    assert engine.tokenizer.name_or_path == str(adapter)


@pytest.mark.parametrize(
    ("rank", "rank_pattern", "max_lora_rank", "ok"),
    [
        (16, None, 64, True),  # the usual case
        (64, None, 64, True),  # equal is enough
        (128, None, 64, False),  # too large for the reserved room
        (16, {"q_proj": 128}, 64, False),  # a per-module rank counts too
        (128, None, 128, True),  # fixed by raising max_lora_rank
    ],
)
def test_adapter_rank_checked_before_loading(fake_vllm, model_dir, tmp_path, rank, rank_pattern, max_lora_rank,
                                             ok) -> None:
    adapter = str(write_adapter(tmp_path / "adapter", rank, rank_pattern=rank_pattern))
    if ok:
        VllmEngine(str(model_dir), adapter=adapter, max_lora_rank=max_lora_rank)
        assert fake_vllm.llms[0].kwargs["max_lora_rank"] == max_lora_rank
    else:
        with pytest.raises(ValueError, match=f"LoRA rank 128 but max_lora_rank is {max_lora_rank}"):
            VllmEngine(str(model_dir), adapter=adapter, max_lora_rank=max_lora_rank)
        assert fake_vllm.llms == []


def test_adapter_without_config_rejected(fake_vllm, model_dir, tmp_path) -> None:
    (tmp_path / "not_an_adapter").mkdir()
    with pytest.raises(ValueError, match="no adapter_config.json"):
        VllmEngine(str(model_dir), adapter=str(tmp_path / "not_an_adapter"))


# ---------------------------------------------------------------- generation


def test_greedy_params(fake_vllm, model_dir) -> None:
    engine = VllmEngine(str(model_dir))
    engine.generate([prompt(engine, "a"), prompt(engine, "b")], max_new_tokens=33, temperature=0.0, seed=5)
    call = fake_vllm.llms[0].calls[0]
    assert call["use_tqdm"] is False
    for sp in call["params"]:
        assert (sp.temperature, sp.max_tokens, sp.n, sp.skip_special_tokens) == (0.0, 33, 1, True)
        assert sp.seed is None  # greedy needs none


def test_sampling_params(fake_vllm, model_dir) -> None:
    engine = VllmEngine(str(model_dir))
    engine.generate([prompt(engine, "a"), prompt(engine, "b")], max_new_tokens=17, temperature=0.7, seed=5)
    params = fake_vllm.llms[0].calls[0]["params"]
    for i, sp in enumerate(params):
        assert (sp.temperature, sp.top_p, sp.top_k, sp.max_tokens, sp.n) == (0.7, 1.0, 0, 17, 1)
        assert sp.skip_special_tokens is True
        assert sp.seed == request_seed(5, i)


def test_seeds_depend_only_on_seed_and_index(fake_vllm, model_dir) -> None:
    engine = VllmEngine(str(model_dir))
    prompts = [prompt(engine, q) for q in ("a", "b", "c", "d")]
    engine.generate(prompts, max_new_tokens=8, temperature=1.0, seed=3)
    engine.generate(prompts[:2], max_new_tokens=8, temperature=1.0, seed=3)  # a smaller batch
    engine.generate(prompts[::-1], max_new_tokens=8, temperature=1.0, seed=3)  # another order
    engine.generate(prompts, max_new_tokens=8, temperature=1.0, seed=4)
    full, half, reversed_, other = ([sp.seed for sp in c["params"]] for c in fake_vllm.llms[0].calls)
    assert half == full[:2]  # prompt i keeps its seed whatever else is in the call
    assert reversed_ == full  # seeds follow positions, so the caller's order decides who gets which
    assert len(set(full)) == 4  # every prompt samples with its own stream
    assert not set(other) & set(full)  # another seed, other streams
    assert all(0 <= s < 2**31 for s in full + other)


def test_request_seed_is_not_seed_plus_index() -> None:
    # seed + index would give (1, 0) and (0, 1) the same stream: two runs would share samples.
    assert request_seed(1, 0) != request_seed(0, 1)
    assert request_seed(0, 0) == request_seed(0, 0)


def test_token_ids_without_a_second_bos(fake_vllm, model_dir) -> None:
    engine = VllmEngine(str(model_dir))
    text = prompt(engine, "How do I pick a lock?")
    engine.generate([text], max_new_tokens=8, temperature=0.0, seed=0)
    sent = fake_vllm.llms[0].calls[0]["prompts"][0]
    assert set(sent) == {"prompt_token_ids"}  # token ids, never text vLLM would encode with BOS
    bos = engine.tokenizer.bos_token_id
    assert sent["prompt_token_ids"] == engine.tokenizer(text, add_special_tokens=False).input_ids
    assert sent["prompt_token_ids"][0] == bos and sent["prompt_token_ids"][1] != bos
    # The near miss this guards against: default encoding of the templated text doubles BOS.
    assert engine.tokenizer(text).input_ids[:2] == [bos, bos]


def test_outputs_in_prompt_order(fake_vllm, model_dir) -> None:
    engine = VllmEngine(str(model_dir))
    queries = ["short", "a somewhat longer query", "the longest query of the three by a good margin"]
    prompts = [prompt(engine, q) for q in queries]
    texts = engine.generate(prompts, max_new_tokens=8, temperature=0.0, seed=0)
    lengths = [len(engine.tokenizer(p, add_special_tokens=False).input_ids) for p in prompts]
    assert len(set(lengths)) == 3
    assert texts == [f"{n} tokens, seed None" for n in lengths]


def test_no_prompts_no_call(fake_vllm, model_dir) -> None:
    engine = VllmEngine(str(model_dir))
    assert engine.generate([], max_new_tokens=8, temperature=1.0, seed=0) == []
    assert fake_vllm.llms[0].calls == []


# ---------------------------------------------------------------- close and availability


def test_close_shuts_down_and_cleans_up_once(fake_vllm, model_dir) -> None:
    engine = VllmEngine(str(model_dir))
    core = fake_vllm.llms[0].llm_engine.engine_core
    engine.close()
    assert (core.shutdowns, fake_vllm.cleanups) == (1, 1)
    assert engine.llm is None  # our last reference is gone
    engine.close()  # a second close is a no-op
    assert (core.shutdowns, fake_vllm.cleanups) == (1, 1)
    with pytest.raises(RuntimeError, match="after close"):
        engine.generate(["x"], max_new_tokens=8, temperature=0.0, seed=0)


def test_close_prefers_llm_shutdown_when_vllm_has_it(fake_vllm, model_dir) -> None:
    engine = VllmEngine(str(model_dir))
    llm = fake_vllm.llms[0]
    calls: list[str] = []
    llm.shutdown = lambda: calls.append("LLM.shutdown")
    engine.close()
    assert calls == ["LLM.shutdown"] and llm.llm_engine.engine_core.shutdowns == 0


def test_missing_vllm_gives_clear_error(monkeypatch, model_dir) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)  # makes `import vllm` raise ImportError
    assert vllm_available() is False
    with pytest.raises(RuntimeError) as info:
        VllmEngine(str(model_dir))
    assert str(info.value) == MISSING_VLLM
    assert "cluster/install_gpu.sh" in MISSING_VLLM and "--engine hf" in MISSING_VLLM


@pytest.mark.parametrize(("cuda", "expected"), [(True, True), (False, False)])
def test_vllm_available_needs_cuda(fake_vllm, monkeypatch, cuda, expected) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    assert vllm_available() is expected


# ---------------------------------------------------------------- the real thing (GPU)


def _missing_for_gpu_test() -> str | None:
    import importlib.util

    import torch

    missing = []
    if importlib.util.find_spec("vllm") is None:
        missing.append("the vllm package")
    if not torch.cuda.is_available():
        missing.append("a CUDA device")
    return " and ".join(missing) or None


@pytest.mark.gpu
def test_real_vllm_tiny_model(tmp_path) -> None:
    """A random tiny Llama: seeded sampling repeats, batching keeps order, a zero LoRA changes nothing,
    and close() frees enough to build a second engine in the same process."""
    missing = _missing_for_gpu_test()
    if missing:
        pytest.skip(f"needs {missing}")
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    model_path, adapter_path = tmp_path / "model", tmp_path / "adapter"
    save_tokenizer(model_path)
    from rl.models import load_tokenizer

    tok = load_tokenizer(str(model_path))
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tok), hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=2, max_position_embeddings=512, bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
    ))  # fmt: skip
    model.save_pretrained(model_path)
    # PEFT initialises lora_B to zeros: the adapter is loaded and applied but adds exactly 0.
    get_peft_model(model, LoraConfig(r=8, target_modules=["q_proj", "v_proj"])).save_pretrained(adapter_path)

    settings = {"dtype": "bfloat16", "max_model_len": 512, "gpu_memory_utilization": 0.3}
    engine = VllmEngine(str(model_path), **settings)
    prompts = [prompt(engine, q) for q in ("one", "two two", "three three three")]
    greedy = engine.generate(prompts, max_new_tokens=12, temperature=0.0, seed=0)
    sampled = engine.generate(prompts, max_new_tokens=12, temperature=1.0, seed=1)
    assert engine.generate(prompts, max_new_tokens=12, temperature=1.0, seed=1) == sampled
    assert engine.generate(prompts[:1], max_new_tokens=12, temperature=0.0, seed=0) == greedy[:1]
    assert len(greedy) == len(sampled) == 3 and all(isinstance(t, str) for t in greedy + sampled)
    engine.close()

    lora = VllmEngine(str(model_path), adapter=str(adapter_path), max_lora_rank=8, **settings)
    assert lora.generate(prompts, max_new_tokens=12, temperature=0.0, seed=0) == greedy
    lora.close()


# ---------------------------------------------------------------- wired into rl.compare


def test_compare_worker_evaluates_a_cell_through_vllm(fake_vllm, model_dir, tmp_path) -> None:
    """`rl.compare --engine vllm`: the worker loads the checkpoint (adapter on its base) into VllmEngine,
    renders both tiers' prompts with its tokenizer and judges what vLLM returned."""
    from env.config import EnvConfig
    from env.datasets import load_queries, split_queries
    from rl.evaluation.checkpoints import Checkpoint
    from rl.evaluation.worker import EvalWorker
    from rl.evaluation.settings import load_settings
    from rl.evaluate import eval_episodes

    settings = load_settings(None, [], variants=["default"], n_queries=2,
                             overrides=["env.prompt=helpful_only_brief_v1", "rl.eval.temperature=0.7"])
    adapter = write_adapter(tmp_path / "lora", 8)
    ckpt = Checkpoint(label="lora", model=str(model_dir), adapter=str(adapter), kind="adapter")
    ds = EnvConfig().dataset
    episodes = eval_episodes(split_queries(load_queries(ds), eval_fraction=ds.eval_fraction,
                                           seed=ds.split_seed).eval, ["default"], 2)
    worker = EvalWorker(settings.dump(), "vllm", vllm_options={"tensor_parallel_size": 1})
    out = worker.run_cell(ckpt.__dict__, "default", [e.model_dump(mode="json") for e in episodes])
    [llm] = fake_vllm.llms
    assert llm.kwargs["model"] == str(model_dir) and llm.kwargs["enable_lora"] is True
    assert llm.kwargs["enable_prefix_caching"] is True
    [call] = llm.calls
    assert len(call["prompts"]) == 4 and call["lora_request"].lora_path == str(adapter)
    assert {p.temperature for p in call["params"]} == {0.7}
    records = out["records"]
    assert sorted(r["episode"]["tier"] for r in records) == ["free", "free", "paid", "paid"]
    assert all(r["completion"].endswith(f"seed {p.seed}") for r, p in zip(records, call["params"], strict=True))
    assert all(r["extra"]["checkpoint"] == "lora" for r in records)
    worker.close()
    assert fake_vllm.cleanups == 1
