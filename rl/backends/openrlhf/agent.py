"""OpenRLHF agent file: the paper's multi-turn <NEXT/> continuation during OpenRLHF training.

`rl.backends.openrlhf.files.write_agent_file` writes a per-run file for `--train.agent_func_path`; OpenRLHF (0.11.2,
`trainer/ray/vllm_engine.py` `_load_agent_executor`) loads it by path in every vLLM rollout actor and
calls `AgentExecutor()`. Its `MultiTurnAgentExecutor.execute` (`utils/agent.py`) makes one agent
instance per sample, then loops: vLLM continues the token ids, `step()` gets the turn's text, and the
`environment_feedback` text it returns is tokenized (no special tokens added) and appended after the
turn's token ids, which end with the stop token (`<|im_end|>`, `<|eot_id|>`) while the text lacks it.
Per turn, as `rl.generate.generate_episodes` does for evaluation: a turn with closed scratchpad
reasoning and no <OUTPUT> is answered by the chat template's end of the model's turn (less the stop token
vLLM already emitted), a user `<NEXT/>` turn and the next generation prompt, up to `env.max_turns` turns.
The last step scores the joined turns (`env.chat.join_turns`) with `rl.backends.openrlhf.reward.score_samples`,
exactly as the single-turn reward file scores one completion; OpenRLHF sums the step rewards (earlier
steps give 0) and keeps only the last step's `scores` and `extra_logs`. Each turn gets at most
--rollout.max_new_tokens, as in evaluation; a conversation with no room left in --data.max_len for another
turn ends there and is scored as it stands (reasoning only: malformed, as a cut single turn is).
With an agent file OpenRLHF sets `--reward.remote_url` to "agent" and never calls the reward file.

OpenRLHF is imported only inside `agent_executor_class`, which runs in its rollout actors.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

# OpenRLHF loads the agent file by path in a Ray actor whose sys.path need not hold the repository.
_REPO_ROOT = str(Path(__file__).resolve().parents[3])
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from env.chat import join_turns  # noqa: E402
from env.config import EnvConfig  # noqa: E402
from reward.config import RewardConfig  # noqa: E402
from rl.backends.openrlhf.reward import (  # noqa: E402
    LOG_KEYS,
    NEUTRAL_REWARD,
    SampleOutcome,
    parse_label,
    score_samples,
)
from rl.continuation import feedback_text, wants_next_turn  # noqa: E402
from rl.prompting import resolve_system_role  # noqa: E402

if TYPE_CHECKING:
    from env.episode import Episode

log = logging.getLogger(__name__)
_warned: set[str] = set()
_CONVERSATION: contextvars.ContextVar[Conversation] = contextvars.ContextVar("af_rl_conversation")
"""The conversation `AgentExecutor.execute` is running. OpenRLHF builds each agent instance with no
arguments, so the instance picks its conversation (tokenizer included) up from here; every execute call
runs in its own asyncio task, whose context is its own."""


class Conversation:
    """One sample's episode across its turns, shared by the executor and its agent instance.

    Args:
        tokenizer: the HF tokenizer OpenRLHF passes to `execute` (the policy's).
        max_length: OpenRLHF's `--data.max_len`, the token budget of prompt plus every turn.
        reward_cfg, env_cfg: the run's config sections.
    """

    def __init__(self, tokenizer: Any, max_length: int, reward_cfg: RewardConfig, env_cfg: EnvConfig) -> None:
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.reward_cfg = reward_cfg
        self.env_cfg = env_cfg
        self.prompt: Any = None
        self.label: Any = None
        self.episode: Episode | None = None
        self.turns: list[str] = []
        self.prompt_len = 0
        """Token ids vLLM got for the latest turn (the whole conversation so far)."""
        self.output: Any = None
        """vLLM's CompletionOutput of the latest turn (token_ids, text, finish_reason)."""
        self.outcome: SampleOutcome | None = None
        """Set once the episode is finished and scored."""

    def start(self, prompt: Any, label: Any) -> None:
        self.prompt, self.label = prompt, label
        self.episode = parse_label(label)

    def wants_next_turn(self) -> bool:
        """The latest turn reasons without answering, and the episode may take another turn."""
        ep = self.episode
        return ep is not None and wants_next_turn(ep.variant, self.turns, self.env_cfg.max_turns,
                                                  cut=getattr(self.output, "finish_reason", None) == "length")

    def feedback_text(self) -> str:
        """The template's text from the end of the model's latest turn to the next generation prompt,
        less the stop token vLLM already emitted (rl.continuation.feedback_text)."""
        assert self.episode is not None
        tok = self.tokenizer
        ids = list(getattr(self.output, "token_ids", None) or [])
        system_role = resolve_system_role(tok, self.env_cfg.system_role)
        return feedback_text(tok, self.episode, self.env_cfg, system_role=system_role, turns=self.turns,
                             stop_token_id=ids[-1] if ids else None)

    def fits(self, feedback: str) -> bool:
        """Whether a next turn would have tokens left to generate (OpenRLHF stops the loop otherwise)."""
        used = self.prompt_len + len(getattr(self.output, "token_ids", None) or [])
        used += len(self.tokenizer(feedback, add_special_tokens=False)["input_ids"])
        return used < self.max_length

    async def finish(self) -> SampleOutcome:
        """Score the joined turns as the reward file scores one completion. Never raises."""
        if self.outcome is None:
            try:
                completion = join_turns(self.turns)
                prompt = self.prompt if isinstance(self.prompt, str) else None
                query = prompt + completion if prompt is not None else None
                # A thread, as OpenRLHF runs reward files: LLM judges must not block vLLM's event loop.
                [self.outcome] = await asyncio.to_thread(score_samples, [query], [prompt], [self.label],
                                                         self.reward_cfg)
            except Exception:  # noqa: BLE001 - OpenRLHF would drop the sample
                _warn_once("finish", "scoring a finished conversation raised; it gets the neutral reward",
                           exc_info=True)
                self.outcome = error_outcome()
        return self.outcome


class NextTurnAgent:
    """The agent instance's behaviour (OpenRLHF's AgentInstanceBase is mixed in by `agent_executor_class`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        try:
            self.conversation = _CONVERSATION.get()
        except LookupError:
            raise RuntimeError("af-rl's agent instance is created by its AgentExecutor.execute only") from None

    async def reset(self, states: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        self.conversation.start(states.get("observation"), states.get("label"))
        return states

    async def step(self, states: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """Record the turn; answer <NEXT/> or finish with the episode's reward. Never raises."""
        conv = self.conversation
        try:
            text = states.get("action_text")
            conv.turns.append(text if isinstance(text, str) else "")
            if conv.wants_next_turn():
                feedback = conv.feedback_text()
                if conv.fits(feedback):
                    return step_result(neutral_outcome(), feedback, done=False)
        except Exception:  # noqa: BLE001 - OpenRLHF would drop the sample
            _warn_once("step", "continuing a conversation raised; it gets the neutral reward", exc_info=True)
            conv.outcome = error_outcome()
        return step_result(await conv.finish(), "", done=True)


class _RecordingEngine:
    """OpenRLHF's engine, keeping each turn's token ids for the agent (its step only sees the text) and
    holding each turn to `max_new_tokens`.

    OpenRLHF's loop gives every turn all the tokens left up to --data.max_len, whatever
    --rollout.max_new_tokens says; evaluation (rl.generate) gives each turn max_new_tokens, so training
    does the same. The parameters it gets are OpenRLHF's per-request copy.
    """

    def __init__(self, engine: Any, conversation: Conversation, max_new_tokens: int | None) -> None:
        self._engine = engine
        self._conversation = conversation
        self._max_new_tokens = max_new_tokens

    async def generate(self, prompt_token_ids: list[int], sampling_params: Any, **kwargs: Any) -> Any:
        budget = getattr(sampling_params, "max_tokens", None)
        if self._max_new_tokens and budget is not None and budget > self._max_new_tokens:
            sampling_params.max_tokens = self._max_new_tokens
        out = await self._engine.generate(prompt_token_ids, sampling_params, **kwargs)
        self._conversation.prompt_len = len(prompt_token_ids)
        self._conversation.output = out.outputs[0]
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)


@functools.cache
def agent_executor_class(reward_config: str = "", env_config: str = "") -> type:
    """OpenRLHF's `AgentExecutor` for a run: a `MultiTurnAgentExecutor` over af-rl's <NEXT/> agent.

    Args:
        reward_config, env_config: `RewardConfig` / `EnvConfig` JSON; "" for the defaults.
    Raises:
        pydantic.ValidationError: a config is invalid (the rollout actors fail at start-up).
        ImportError: OpenRLHF is not importable (it is in its own rollout actors).
    """
    reward_cfg = RewardConfig.model_validate_json(reward_config) if reward_config.strip() else RewardConfig()
    env_cfg = EnvConfig.model_validate_json(env_config) if env_config.strip() else EnvConfig()
    from openrlhf.utils.agent import AgentInstanceBase, MultiTurnAgentExecutor

    class AfRlAgentInstance(NextTurnAgent, AgentInstanceBase):
        pass

    class AgentExecutor(MultiTurnAgentExecutor):
        """af-rl's multi-turn executor: OpenRLHF's loop, with the tokenizer bound to each agent instance
        and a conversation that OpenRLHF cut short for want of tokens scored all the same."""

        def __init__(self) -> None:
            super().__init__(AfRlAgentInstance)

        async def execute(self, prompt: Any, label: Any, sampling_params: Any, max_length: int, hf_tokenizer: Any,
                          llm_engine: Any, images: Any = None) -> dict[str, Any]:
            conv = Conversation(hf_tokenizer, max_length, reward_cfg, env_cfg)
            engine = _RecordingEngine(llm_engine, conv, getattr(sampling_params, "max_tokens", None))
            token = _CONVERSATION.set(conv)
            try:
                out = await super().execute(prompt, label, sampling_params, max_length, hf_tokenizer, engine,
                                            images)
            finally:
                _CONVERSATION.reset(token)
            if conv.outcome is None:  # OpenRLHF left its loop after a done=False step: no tokens left
                final = step_result(await conv.finish(), "", done=True)
                out.update(reward=float(final["rewards"].item()), scores=final["scores"],
                           extra_logs=final["extra_logs"])
            return out

    AgentExecutor.__qualname__ = AgentExecutor.__name__
    return AgentExecutor


def step_result(outcome: SampleOutcome, feedback: str, *, done: bool) -> dict[str, Any]:
    """What OpenRLHF's MultiTurnAgentExecutor takes from `step`: 0-d float32 tensors, every LOG_KEYS key."""
    import torch

    reward = torch.tensor(outcome.reward, dtype=torch.float32)
    return {
        "rewards": reward,
        "scores": reward.clone(),
        "environment_feedback": feedback,
        "done": done,
        "extra_logs": {k: torch.tensor(outcome.logs[k], dtype=torch.float32) for k in LOG_KEYS},
    }


def neutral_outcome() -> SampleOutcome:
    """A turn that is not the last: no reward yet, every log 0 (OpenRLHF keeps the last step's logs)."""
    return SampleOutcome(NEUTRAL_REWARD, dict.fromkeys(LOG_KEYS, 0.0))


def error_outcome() -> SampleOutcome:
    """A conversation that could not be continued or scored: neutral, counted as a reward error."""
    logs = dict.fromkeys(LOG_KEYS, 0.0)
    logs["reward_errors"] = logs["unscored"] = 1.0
    return SampleOutcome(NEUTRAL_REWARD, logs)


def _warn_once(kind: str, message: str, *, exc_info: bool = False) -> None:
    """Warn with details the first time a kind of failure happens in this process (the count is in
    extra_logs), so a bad dataset does not write one warning per sample."""
    if kind in _warned:
        log.debug(message, exc_info=exc_info)
        return
    _warned.add(kind)
    log.warning("af-rl agent: %s", message, exc_info=exc_info)
