"""TRL GRPOTrainer backend: the only file that knows GRPOTrainer's reward convention and arguments."""

from __future__ import annotations

import logging
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from env.episode import Episode
from reward.cascade import uses_cascade, uses_judge
from reward.metrics import judge_cost_metrics, metric_key, train_metrics
from reward.records import make_records, raise_if_judge_down

if TYPE_CHECKING:
    from reward.config import RewardConfig
    from reward.records import EpisodeRecord
    from rl.config import RunConfig

log = logging.getLogger(__name__)


def completion_text(completion: Any) -> str:
    """TRL passes strings for plain-text prompts and message lists for conversational ones."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        return str(completion[-1].get("content", ""))
    return str(completion)


class TrlHelpfulOnlyReward:
    """GRPOTrainer reward function: one `reward/` call per batch of completions (LLM judges score the
    batch concurrently), train/* metrics via log_metric.

    A class rather than a closure so it pickles into worker processes. Unrewarded tiers and failed
    judgements return None (TRL turns it into NaN: left out of the group baseline, advantage 0; no fake 0.0).
    Scoring that raises never stops the run: if the batch raises, each completion is scored alone, and
    one that still raises gets None too, counts in `train/reward_errors` (and `train/unscored`), and its
    error is logged once per kind (exception type and the place that raised). The one exception on
    purpose is `JudgeUnavailableError`: a judge that failed every judgement of the batch stops the run.
    """

    __name__ = "helpful_only"  # TRL names the reward column after this

    def __init__(self, cfg: RewardConfig) -> None:
        self.cfg = cfg
        self.logged_errors: set[str] = set()
        """Kinds of scoring error already logged by this adapter (see `error_kind`)."""

    def __call__(
        self,
        prompts: list[Any],
        completions: list[Any],
        episode: list[str],
        log_metric: Callable[[str, float], None] | None = None,
        af_completion: list[str] | None = None,
        **kwargs: Any,
    ) -> list[float | None]:
        """`af_completion`: the joined turns of af-rl's rollouts (rl/backends/trl_rollout.py), read instead
        of TRL's decoding of the ids, which holds the template's text between turns."""
        if af_completion is not None:
            completions = list(af_completion)
        if len(episode) != len(completions):
            raise ValueError(f"{len(completions)} completions for {len(episode)} episodes")
        records = self._records(episode, completions)
        scored = [r for r in records if r is not None]
        raise_if_judge_down(scored, self.cfg)  # a judge that is down stops the run: no rewards to train on
        if log_metric is not None:
            errors = len(records) - len(scored)
            metrics = train_metrics(scored)
            metrics[metric_key("train", "unscored")] = (metrics[metric_key("train", "unscored")] or 0) + errors
            metrics[metric_key("train", "reward_errors")] = errors
            metrics.update(judge_cost_metrics(scored, judge=uses_judge(self.cfg), cascade=uses_cascade(self.cfg)))
            for name, value in metrics.items():
                if value is not None:
                    log_metric(name, float(value))
        return [r.reward if r is not None else None for r in records]

    def _records(self, episode: Sequence[str], completions: Sequence[Any]) -> list[EpisodeRecord | None]:
        """One record per completion, None where scoring raised."""
        try:
            return make_records([Episode.model_validate_json(e) for e in episode],
                                [completion_text(c) for c in completions], self.cfg)
        except Exception as e:  # noqa: BLE001 - one bad completion must not end a days-long run
            self._log_once(e)
        out: list[EpisodeRecord | None] = []
        for e, c in zip(episode, completions, strict=True):
            try:
                out.append(make_records([Episode.model_validate_json(e)], [completion_text(c)], self.cfg)[0])
            except Exception as err:  # noqa: BLE001 - as above, for the completions that raise alone
                self._log_once(err)
                out.append(None)
        return out

    def _log_once(self, e: Exception) -> None:
        kind = error_kind(e)
        if kind in self.logged_errors:
            return
        self.logged_errors.add(kind)
        log.warning("af-rl reward: scoring raised %s; such completions get no reward and count in "
                    "train/reward_errors (each kind of error is logged once)", kind, exc_info=e)


def error_kind(e: BaseException) -> str:
    """`Type at file:line`, the innermost frame that raised: what makes two scoring errors the same kind."""
    frames = traceback.extract_tb(e.__traceback__)
    if not frames:
        return type(e).__name__
    return f"{type(e).__name__} at {Path(frames[-1].filename).name}:{frames[-1].lineno}"


def build_grpo_args(cfg: RunConfig, output_dir: str, device: str) -> Any:
    """GRPOConfig from our typed config. Checkpoints land in `output_dir` as checkpoint-N (renamed later)."""
    from trl import GRPOConfig

    t = cfg.trl
    cpu = device == "cpu"
    # transformers 5 renamed gradient_checkpointing (and warns on the old name); GRPOConfig turns it on
    # unless told otherwise, so pass it always.
    extra: dict[str, Any] = {"activation_checkpointing": t.gradient_checkpointing}
    if t.use_vllm:
        extra.update(use_vllm=True, vllm_mode="colocate", vllm_gpu_memory_utilization=t.vllm_gpu_memory_utilization,
                     vllm_tensor_parallel_size=t.vllm_tensor_parallel_size,
                     vllm_max_model_length=t.vllm_max_model_length)
    return GRPOConfig(
        output_dir=output_dir,
        max_steps=cfg.rl.max_steps,
        learning_rate=t.learning_rate,
        lr_scheduler_type=t.lr_scheduler_type,
        warmup_steps=t.warmup_ratio,  # transformers 5: a float in [0, 1) is a fraction of max_steps
        max_grad_norm=t.max_grad_norm,
        per_device_train_batch_size=t.per_device_train_batch_size,
        gradient_accumulation_steps=t.gradient_accumulation_steps,
        num_generations=t.num_generations,
        max_completion_length=t.max_completion_length,
        temperature=t.temperature,
        beta=t.beta,
        loss_type=t.loss_type,
        scale_rewards=t.scale_rewards,
        seed=cfg.rl.seed,
        data_seed=cfg.rl.seed,
        logging_steps=1,
        save_strategy="steps",
        save_steps=cfg.rl.save_every,
        save_total_limit=None,
        report_to="none",  # rl/wandb_log.py owns the W&B run; TRL's logs reach it through a callback
        use_cpu=cpu,
        bf16=(not cpu) and cfg.rl.model.dtype != "float32",
        dataloader_num_workers=0,
        disable_tqdm=True,
        **extra,
    )


def build_peft_config(cfg: RunConfig) -> Any:
    """peft LoraConfig from rl.model.lora, or None for full fine-tuning."""
    lora = cfg.rl.model.lora
    if lora is None:
        return None
    from peft import LoraConfig

    return LoraConfig(
        r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=lora.target_modules,
        task_type="CAUSAL_LM",
    )


def build_train_dataset(tokenizer: Any, episodes: list[Episode], cfg: RunConfig, *, system_role: bool) -> Any:
    """A `datasets.Dataset` with the rendered `prompt` text and the `episode` JSON the reward reads."""
    from datasets import Dataset

    from rl.prompting import render_prompt, strip_auto_bos

    return Dataset.from_dict({
        "prompt": [strip_auto_bos(tokenizer, render_prompt(tokenizer, e, cfg.env, system_role=system_role))
                   for e in episodes],
        "episode": [e.model_dump_json() for e in episodes],
    })


def make_rollouts(tokenizer: Any, dataset: Any, cfg: RunConfig, *, system_role: bool) -> Any:
    """The trainer's rollout_func for trl.rollouts "engine" (rl/backends/trl_rollout.py), else None."""
    if cfg.trl.rollouts != "engine":
        return None
    from rl.backends.trl_rollout import EngineRollouts

    episodes: dict[str, Episode] = {}
    for prompt, episode in zip(dataset["prompt"], dataset["episode"], strict=True):
        if prompt not in episodes:
            episodes[prompt] = Episode.model_validate_json(episode)
    return EngineRollouts(episodes, tokenizer, cfg.env, system_role=system_role,
                          max_completion_length=cfg.trl.max_completion_length, temperature=cfg.trl.temperature,
                          seed=cfg.rl.seed, batch_size=cfg.trl.rollout_batch_size)


def make_trainer(model: Any, tokenizer: Any, dataset: Any, cfg: RunConfig, output_dir: str, device: str,
                 callbacks: list[Any], *, system_role: bool = True) -> Any:
    """A GRPOTrainer wired to our reward, rollouts (trl.rollouts), shared-prefix log-probs (trl.share_prefix)
    and callbacks."""
    import os

    from transformers import PrinterCallback
    from trl import GRPOTrainer

    from rl.backends.trl_prefix import prefix_sharing_trainer

    trainer_class = prefix_sharing_trainer() if cfg.trl.share_prefix else GRPOTrainer
    rollouts = make_rollouts(tokenizer, dataset, cfg, system_role=system_role)
    if rollouts is not None:
        # TRL warns on every run that rollout_func is experimental; the TRL version is pinned and tested.
        os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    trainer = trainer_class(
        model=model,
        reward_funcs=[TrlHelpfulOnlyReward(cfg.reward)],
        args=build_grpo_args(cfg, output_dir, device),
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=build_peft_config(cfg),
        callbacks=callbacks,
        rollout_func=rollouts,
    )
    trainer.remove_callback(PrinterCallback)  # LogCallback prints a compact line per step instead
    return trainer

