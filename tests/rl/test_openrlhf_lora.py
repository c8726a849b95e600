"""LoRA weight sync for OpenRLHF's vLLM engines, through its contracts on CPU: the PEFT-named parameters a
LoRA policy sends become merged HF-named weights that load into the plain model and give the merged
model's outputs; the worker patch routes OpenRLHF's update methods through it; Ray installs it in workers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest
import torch

from rl.backends.openrlhf import launch_command
from rl.backends.openrlhf.lora import SCALING_ENV, LoraMergingLoader, hf_name, install, ray_runtime_env
from rl.config import RunConfig

ROOT = Path(__file__).resolve().parents[2]


def _tiny_lora(seed: int = 0) -> tuple[Any, Any]:
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, max_position_embeddings=64)
    base = LlamaForCausalLM(cfg).eval()
    peft = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False))
    return cfg, peft.eval()


def test_names() -> None:
    assert hf_name("base_model.model.model.layers.0.self_attn.q_proj.base_layer.weight") == \
        "model.layers.0.self_attn.q_proj.weight"
    assert hf_name("base_model.model.model.norm.weight") == "model.norm.weight"
    assert hf_name("model.embed_tokens.weight") == "model.embed_tokens.weight"


def test_merged_weights_load_into_the_plain_model_and_match_peft_merge() -> None:
    from transformers import LlamaForCausalLM

    cfg, peft = _tiny_lora()
    received: dict[str, torch.Tensor] = {}
    loader = LoraMergingLoader(lambda ws: received.update(dict(ws)), scaling=8 / 4)
    for name, param in peft.named_parameters():  # one at a time, as OpenRLHF's broadcast sends them
        loader([(name, param.detach().clone())])
    assert not loader.pending  # every module got its base weight and both adapter matrices
    plain = LlamaForCausalLM(cfg).eval()
    missing, unexpected = plain.load_state_dict(received, strict=False)
    assert not unexpected and set(missing) <= {"lm_head.weight"}  # tied to the embeddings
    assert not any("lora" in k or "base_layer" in k for k in received)
    ids = torch.tensor([[1, 5, 9, 2, 7]])
    with torch.no_grad():
        want = peft.merge_and_unload()(ids).logits
        got = plain(ids).logits
    assert torch.allclose(got, want, atol=1e-5)
    assert not torch.allclose(got, LlamaForCausalLM(cfg).eval()(ids).logits, atol=1e-3)  # the adapters matter


def test_order_of_arrival_does_not_matter() -> None:
    _, peft = _tiny_lora(1)
    params = [(n, p.detach().clone()) for n, p in peft.named_parameters()]
    a: dict[str, torch.Tensor] = {}
    b: dict[str, torch.Tensor] = {}
    LoraMergingLoader(lambda ws: a.update(dict(ws)), 2.0)(params)
    loader = LoraMergingLoader(lambda ws: b.update(dict(ws)), 2.0)
    for item in reversed(params):
        loader([item])
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_worker_patch_routes_openrlhf_updates_through_the_merge(monkeypatch: pytest.MonkeyPatch) -> None:
    class WorkerWrap:  # the shape of OpenRLHF's vLLM worker extension: it ends in model.load_weights
        def update_weight(self, name: str, dtype: Any, shape: Any, empty_cache: bool = False) -> None:
            self.model_runner.model.load_weights(weights=[(name, torch.ones(shape))])

        def update_weight_cuda_ipc(self, name: str, dtype: Any, shape: Any, ipc_handles: Any = None,
                                   empty_cache: bool = False) -> None:
            self.model_runner.model.load_weights(weights=[(name, torch.ones(shape))])

    module = types.ModuleType("openrlhf.trainer.ray.vllm_worker_wrap")
    module.WorkerWrap = WorkerWrap
    for name in ("openrlhf", "openrlhf.trainer", "openrlhf.trainer.ray"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "openrlhf.trainer.ray.vllm_worker_wrap", module)
    monkeypatch.setenv(SCALING_ENV, "0.5")
    install()
    install()  # idempotent
    loaded: list[tuple[str, torch.Tensor]] = []
    worker = WorkerWrap()
    worker.model_runner = types.SimpleNamespace(model=types.SimpleNamespace(
        load_weights=lambda weights: loaded.extend(weights)))
    m = "base_model.model.model.layers.0.mlp.up_proj"
    worker.update_weight(f"{m}.base_layer.weight", torch.float32, (3, 2))
    worker.update_weight_cuda_ipc(f"{m}.lora_A.default.weight", torch.float32, (1, 2))
    assert loaded == []  # held until the module is complete
    worker.update_weight(f"{m}.lora_B.default.weight", torch.float32, (3, 1))
    worker.update_weight("base_model.model.model.norm.weight", torch.float32, (2,))
    assert [n for n, _ in loaded] == ["model.layers.0.mlp.up_proj.weight", "model.norm.weight"]
    assert torch.allclose(loaded[0][1], torch.full((3, 2), 1.5))  # 1 + 0.5 * (ones(3,1) @ ones(1,2))


def test_lora_runs_launch_through_the_merging_wrapper() -> None:
    base = {"rl": {"backend": "openrlhf", "model": {"source": "hf", "name_or_path": "org/m"}}}
    plain = launch_command(RunConfig.model_validate(base), ["--x"])
    assert plain[1:] == ["-m", "openrlhf.cli.train_ppo_ray", "--x"]
    lora = RunConfig.model_validate({"rl": {**base["rl"], "model": {**base["rl"]["model"],
                                                                     "lora": {"r": 16, "alpha": 32}}}})
    assert launch_command(lora, ["--x"])[1:] == ["-m", "rl.backends.openrlhf.lora", "--lora-scaling", "2.0", "--x"]
    env = ray_runtime_env(2.0)
    assert env["worker_process_setup_hook"] == "rl.backends.openrlhf.lora.install"
    assert env["env_vars"][SCALING_ENV] == "2.0" and env["env_vars"]["NCCL_DEBUG"]


@pytest.mark.slow
def test_the_launcher_installs_the_patch_in_ray_workers_and_runs_openrlhf(tmp_path: Path) -> None:
    """A stand-in OpenRLHF package: its train_ppo_ray (run by the launcher as __main__) starts a Ray task
    that reports whether the worker's WorkerWrap was patched by the setup hook."""
    pkg = tmp_path / "openrlhf"
    for sub in ("", "cli", "trainer", "trainer/ray"):
        (pkg / sub).mkdir(parents=True, exist_ok=True)
        (pkg / sub / "__init__.py").write_text("")
    (pkg / "trainer" / "ray" / "vllm_worker_wrap.py").write_text(
        "class WorkerWrap:\n    def update_weight(self, *a, **k):\n        pass\n")
    (pkg / "cli" / "train_ppo_ray.py").write_text(
        "import json, sys, ray\n"
        "assert ray.is_initialized()  # OpenRLHF keeps the Ray the launcher started\n"
        "@ray.remote\n"
        "def probe():\n"
        "    from openrlhf.trainer.ray.vllm_worker_wrap import WorkerWrap\n"
        "    return getattr(WorkerWrap.update_weight, '_af_rl_lora', False)\n"
        "print('RESULT', json.dumps({'patched': ray.get(probe.remote()), 'argv': sys.argv[1:]}))\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]), "RAY_AUTH_MODE": "disabled"}
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.run([sys.executable, "-m", "rl.backends.openrlhf.lora", "--lora-scaling", "2.0", "--a", "1"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    assert json.loads(line[len("RESULT "):]) == {"patched": True, "argv": ["--a", "1"]}
