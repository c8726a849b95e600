"""The evaluation worker that `rl.compare` and the OpenRLHF backend's checkpoint evaluation share.

It holds one loaded checkpoint at a time (so a checkpoint's prompt variations share one load) and
evaluates cells, one checkpoint under one variation, with `rl.evaluate.evaluate_episodes`, the code of
the periodic evaluation during training; plain-data arguments and results, so it can live in a Ray actor.
"""

from __future__ import annotations

import time
from typing import Any

from env.episode import Episode
from env.progress import progress_label
from rl.evaluation.checkpoints import Checkpoint
from rl.evaluation.settings import CompareSettings


class EvalWorker:
    """Evaluates cells; keeps the latest checkpoint loaded so a checkpoint's variations share one load.

    Args:
        settings: CompareSettings.dump() (plain data, so the worker can live in a Ray actor).
        engine: "hf", "vllm" or "openai".
        device: auto | cpu | cuda (hf only).
        threads: torch CPU threads (None: torch's default).
        vllm_options: passed to the vLLM engine.
        openai_options: passed to the OpenAI engine (rl.engines.load_engine).
        in_ray: the worker is a Ray actor (recorded only: an actor has no terminal, so generation's
            progress comes as periodic lines there by itself, env.progress).
    """

    def __init__(self, settings: dict[str, Any], engine: str, device: str = "auto", threads: int | None = None,
                 vllm_options: dict[str, Any] | None = None, in_ray: bool = False,
                 openai_options: dict[str, Any] | None = None) -> None:
        self.settings = CompareSettings.from_dump(settings)
        self.engine_name = engine
        self.device = device
        self.vllm_options = vllm_options
        self.openai_options = openai_options
        self.in_ray = in_ray
        self._engine: Any = None
        self._loaded: str | None = None
        self._system_role = True
        from rl.quiet import quiet_logs

        quiet_logs()  # in a Ray actor the driver's warning filters do not apply
        if threads:
            import torch

            torch.set_num_threads(threads)

    def _load(self, ckpt: Checkpoint) -> Any:
        if self._loaded == ckpt.weights and self._engine is not None:
            return self._engine
        self.close()
        from transformers.utils import logging as hf_logging

        from rl.engines import load_engine
        from rl.prompting import resolve_system_role

        hf_logging.disable_progress_bar()  # one bar per cell is enough; weight loading is quick

        ev = self.settings.eval
        self._engine = load_engine(self.engine_name, ckpt.model, adapter=ckpt.adapter, dtype=self.settings.dtype,
                                   device=self.device, batch_size=ev.batch_size, prefix_cache=ev.prefix_cache,
                                   vllm_options=self.vllm_options, openai_options=self.openai_options)
        self._loaded = ckpt.weights
        if getattr(self._engine, "takes_messages", False):  # a chat endpoint: its template is the server's
            self._system_role = self.settings.env.system_role != "fold"
        else:
            self._system_role = resolve_system_role(self._engine.tokenizer, self.settings.env.system_role)
        return self._engine

    def run_cell(self, checkpoint: dict[str, Any], variant: str, episodes: list[dict[str, Any]], *,
                 knowledge: bool = False) -> dict[str, Any]:
        """Generate and judge one cell: {"records": JSON-able records, "seconds": wall time incl. loading};
        with `knowledge`, also "knowledge": the knowledge probe on the same loaded model (`knowledge_row`).

        Raises:
            ValueError: `knowledge` with an engine that gives no access to the model's log-probabilities.
        """
        from rl.evaluate import evaluate_episodes

        started = time.time()
        ckpt = Checkpoint(**checkpoint)
        engine = self._load(ckpt)
        eps = [Episode.model_validate(e) for e in episodes]
        # Generation reports progress under this label: a bar on a terminal, periodic lines in a Ray actor.
        with progress_label(f"{ckpt.label} / {variant}"):
            s = self.settings
            records = evaluate_episodes(engine, eps, s.env, s.reward, s.eval, system_role=self._system_role,
                                        step=ckpt.step, extra={"checkpoint": ckpt.label})
        out: dict[str, Any] = {"records": [r.model_dump(mode="json") for r in records]}
        if knowledge:
            out["knowledge"] = self._knowledge(engine, variant)
        return {**out, "seconds": time.time() - started}

    def _knowledge(self, engine: Any, variant: str) -> dict[str, Any]:
        from rl.evaluation.knowledge import knowledge_metrics, knowledge_row

        if getattr(engine, "name", None) != "hf":
            raise ValueError(f"the knowledge probe needs the hf engine (it scores log-probabilities), not "
                             f"{getattr(engine, 'name', type(engine).__name__)}")
        metrics = knowledge_metrics(engine.model, engine.tokenizer, self.settings.env, variant=variant,
                                    system_role=self._system_role)
        return knowledge_row(metrics, variant)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
        self._engine = None
        self._loaded = None

    def ping(self) -> bool:
        return True
