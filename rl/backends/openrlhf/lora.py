"""LoRA weight sync into vLLM for OpenRLHF, and the launcher that installs it.

OpenRLHF 0.11.2 copies the policy into its vLLM engines after every training step by sending each
parameter under its own name. With LoRA those are PEFT names (`base_model.model.<hf name with
.base_layer>`, `...lora_A.default.weight`, `...lora_B.default.weight`) that vLLM's `load_weights` has no
parameters for, and nothing merges the adapters (upstream OpenRLHF issue #1349). Here the receiving side
does the merge: every vLLM worker's `load_weights` is wrapped so that, per LoRA-wrapped module, the base
weight and the two adapter matrices are held until all three have arrived and then loaded as
W + scaling * B @ A under the plain HF name; other parameters lose the PEFT prefix and pass through. The
trained weights are never modified, so no rounding drifts in over the steps.

The wrapper is installed in every Ray worker process by a `worker_process_setup_hook` (`install`), set by
`python -m rl.backends.openrlhf.lora <openrlhf args>`, which initialises Ray with the hook and then runs
OpenRLHF's `train_ppo_ray` as `__main__` (it keeps an already initialised Ray). OpenRLHF's vLLM workers
run in Ray worker processes (the rollout actor itself at tensor parallel 1, Ray actors above), so they
all get it.
"""

from __future__ import annotations

import os
import re
import runpy
import sys
from typing import Any, Callable, Iterable

SCALING_ENV = "AF_RL_LORA_SCALING"
"""lora_alpha / r of the run's adapters (set by the launcher in the workers' environment)."""
PEFT_PREFIX = "base_model.model."
_LORA_RE = re.compile(r"^(?P<module>.+)\.lora_(?P<which>A|B)\.[^.]+\.weight$")
_BASE_RE = re.compile(r"^(?P<module>.+)\.base_layer\.(?P<param>weight|bias)$")
_OPENRLHF_DEFAULTS = {"TOKENIZERS_PARALLELISM": "true", "NCCL_DEBUG": "WARN", "RAY_ENABLE_ZERO_COPY_TORCH_TENSORS": "1"}


def hf_name(peft_name: str) -> str:
    """`base_model.model.model.layers.0.q_proj.base_layer.weight` -> `model.layers.0.q_proj.weight`."""
    name = peft_name[len(PEFT_PREFIX):] if peft_name.startswith(PEFT_PREFIX) else peft_name
    return name.replace(".base_layer.", ".")


class LoraMergingLoader:
    """Wraps a model's `load_weights(weights)`: PEFT-named LoRA pieces in, merged HF-named weights out.

    Args:
        load: the wrapped `load_weights` (takes an iterable of (name, tensor)).
        scaling: lora_alpha / r.
    """

    def __init__(self, load: Callable[[Iterable[tuple[str, Any]]], Any], scaling: float) -> None:
        self.load = load
        self.scaling = scaling
        self.pending: dict[str, dict[str, Any]] = {}

    def __call__(self, weights: Iterable[tuple[str, Any]]) -> Any:
        out: list[tuple[str, Any]] = []
        for name, tensor in weights:
            lora = _LORA_RE.match(name)
            base = _BASE_RE.match(name)
            if lora is not None:
                self._hold(lora["module"], lora["which"], tensor, out)
            elif base is not None and base["param"] == "weight":
                self._hold(base["module"], "W", tensor, out)
            else:  # a bias of a wrapped layer, or any parameter LoRA doesn't touch
                out.append((hf_name(name), tensor))
        return self.load(out) if out else None

    def _hold(self, module: str, which: str, tensor: Any, out: list[tuple[str, Any]]) -> None:
        parts = self.pending.setdefault(module, {})
        parts[which] = tensor.clone()  # the sender frees or reuses its buffer after this call
        if len(parts) == 3:
            del self.pending[module]
            w, a, b = parts["W"], parts["A"], parts["B"]
            merged = (w.float() + self.scaling * (b.float() @ a.float())).to(w.dtype)
            out.append((hf_name(f"{module}.weight"), merged))


def wrap_model(model: Any, scaling: float) -> None:
    """Make `model.load_weights` merge LoRA pieces (once per model)."""
    if isinstance(getattr(model, "load_weights", None), LoraMergingLoader):
        return
    model.load_weights = LoraMergingLoader(model.load_weights, scaling)


def install() -> None:
    """Ray worker_process_setup_hook: patch OpenRLHF's vLLM worker extension to merge LoRA on receipt.

    A no-op in workers without OpenRLHF, and when the run has no LoRA (no $AF_RL_LORA_SCALING).
    """
    raw = os.environ.get(SCALING_ENV)
    if not raw:
        return
    try:
        from openrlhf.trainer.ray import vllm_worker_wrap
    except ImportError:  # not an OpenRLHF worker (or OpenRLHF absent): nothing to patch
        return
    scaling = float(raw)
    cls = vllm_worker_wrap.WorkerWrap
    for method in ("update_weight", "update_weight_cuda_ipc"):
        original = getattr(cls, method, None)
        if original is None or getattr(original, "_af_rl_lora", False):
            continue

        def patched(self: Any, *args: Any, _original: Callable[..., Any] = original, **kwargs: Any) -> Any:
            wrap_model(self.model_runner.model, scaling)
            return _original(self, *args, **kwargs)

        patched._af_rl_lora = True  # type: ignore[attr-defined]
        setattr(cls, method, patched)


def ray_runtime_env(scaling: float) -> dict[str, Any]:
    """The runtime env the launcher initialises Ray with: OpenRLHF's own env vars plus the hook."""
    env_vars = {k: os.environ.get(k, v) for k, v in _OPENRLHF_DEFAULTS.items()}
    env_vars[SCALING_ENV] = repr(scaling)
    # Spelled out: run as `python -m`, this module's __name__ is "__main__", which workers can't import.
    return {"worker_process_setup_hook": "rl.backends.openrlhf.lora.install", "env_vars": env_vars}


def main(argv: list[str]) -> None:
    """`python -m rl.backends.openrlhf.lora --lora-scaling S <openrlhf args>`: Ray with the hook, then OpenRLHF."""
    if len(argv) < 2 or argv[0] != "--lora-scaling":
        raise SystemExit("usage: python -m rl.backends.openrlhf.lora --lora-scaling S <train_ppo_ray args>")
    import ray

    ray.init(runtime_env=ray_runtime_env(float(argv[1])))
    sys.argv = ["openrlhf.cli.train_ppo_ray", *argv[2:]]
    runpy.run_module("openrlhf.cli.train_ppo_ray", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
