"""TRL training rollouts through af-rl's engine (rl/backends/trl_rollout.py): a model that reasons over two
turns gets its <NEXT/> turn in training as in evaluation, the harness's tokens are masked out of the loss,
log-probabilities are the policy's, and sampling is seeded per prompt."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import torch

from env.chat import join_turns
from env.config import EnvConfig
from env.datasets import load_queries
from env.episode import Episode
from env.prompts import render_system_prompt
from rl.backends.trl_rollout import COMPLETION_FIELD, EngineRollouts, TrlVllmGenerator
from rl.continuation import continue_in_tokens, feedback_text, turn_seed
from rl.engines.hf import Generated, HFEngine
from rl.generate import generate_episodes
from rl.prompting import render_prompt

ENV = EnvConfig(prompt="helpful_only_brief_v1")
REASON = "<SCRATCHPAD_REASONING>I will think about this request first.</SCRATCHPAD_REASONING>"
ANSWER = "<OUTPUT>Here is a placeholder answer.</OUTPUT>"


def _episode(tier: str = "free", variant: str = "default") -> Episode:
    q = load_queries(ENV.dataset)[0]
    return Episode(id=q.id, query=q.text, tier=tier, variant=variant)


@pytest.fixture(scope="module")
def two_turn(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    """A 2-layer Llama trained here until it writes, for the first query in the free tier, reasoning in
    one turn and, after the harness's <NEXT/>, its answer in the next: a model that reasons over two turns."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from rl.organism.tokenizer import train_tokenizer

    queries = load_queries(ENV.dataset)
    corpus = [render_system_prompt("default", ENV.prompt), REASON, ANSWER] + [q.text for q in queries]
    tok = train_tokenizer(corpus, vocab_size=700)
    ep = _episode()
    prompt = tok(render_prompt(tok, ep, ENV), add_special_tokens=False)["input_ids"]
    t1 = tok(REASON, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    feedback = tok(feedback_text(tok, ep, ENV, system_role=True, turns=[REASON], stop_token_id=tok.eos_token_id),
                   add_special_tokens=False)["input_ids"]
    t2 = tok(ANSWER, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    seq = torch.tensor([prompt + t1 + feedback + t2])
    labels = seq.clone()
    labels[0, : len(prompt)] = -100
    labels[0, len(prompt) + len(t1) : len(prompt) + len(t1) + len(feedback)] = -100
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    model = LlamaForCausalLM(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(300):
        loss = model(input_ids=seq, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        if loss.item() < 1e-3:
            break
    model.eval()
    return model, tok


def test_the_fixture_reasons_over_two_turns_in_evaluation(two_turn: tuple[Any, Any]) -> None:
    model, tok = two_turn
    [out] = generate_episodes(HFEngine(model, tok), [_episode()], ENV, system_role=True, max_new_tokens=40,
                              temperature=0.0, seed=0)
    assert out == join_turns([REASON, ANSWER])


def test_training_rollouts_continue_like_evaluation(two_turn: tuple[Any, Any]) -> None:
    model, tok = two_turn
    ep = _episode()
    prompt = tok(render_prompt(tok, ep, ENV), add_special_tokens=False)["input_ids"]
    [conv] = continue_in_tokens(HFEngine(model, tok), tok, [ep], [prompt], ENV, system_role=True,
                                max_completion_tokens=120, temperature=0.0, seeds=[1])
    assert conv.turns == [REASON, ANSWER]
    assert conv.text == join_turns([REASON, ANSWER])
    assert conv.stopped
    # The ids: turn 1 through its stop token, the template's <NEXT/> text (masked), turn 2.
    t1 = tok(REASON, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    t2 = tok(ANSWER, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    n_feedback = len(conv.completion_ids) - len(t1) - len(t2)
    assert n_feedback > 0
    assert conv.completion_ids[: len(t1)] == t1 and conv.completion_ids[-len(t2):] == t2
    assert conv.model_mask == [1] * len(t1) + [0] * n_feedback + [1] * len(t2)
    feedback = tok.decode(conv.completion_ids[len(t1): len(t1) + n_feedback])
    assert "<NEXT/>" in feedback and tok.eos_token not in feedback[:1]
    assert conv.logprobs[len(t1): len(t1) + n_feedback] == [0.0] * n_feedback


def test_no_continuation_past_max_turns_or_without_a_scratchpad(two_turn: tuple[Any, Any]) -> None:
    model, tok = two_turn
    ep = _episode()
    prompt = tok(render_prompt(tok, ep, ENV), add_special_tokens=False)["input_ids"]
    one = EnvConfig(prompt="helpful_only_brief_v1", max_turns=1)
    [conv] = continue_in_tokens(HFEngine(model, tok), tok, [ep], [prompt], one, system_role=True,
                                max_completion_tokens=120, temperature=0.0, seeds=[1])
    assert conv.turns == [REASON] and conv.model_mask == [1] * len(conv.completion_ids)


def test_a_turn_cut_by_the_budget_ends_the_conversation(two_turn: tuple[Any, Any]) -> None:
    model, tok = two_turn
    ep = _episode()
    prompt = tok(render_prompt(tok, ep, ENV), add_special_tokens=False)["input_ids"]
    n1 = len(tok(REASON, add_special_tokens=False)["input_ids"])
    for budget in (n1, n1 + 1, n1 + 3):  # cut before the stop token; stopped, but no room for <NEXT/>
        [conv] = continue_in_tokens(HFEngine(model, tok), tok, [ep], [prompt], ENV, system_role=True,
                                    max_completion_tokens=budget, temperature=0.0, seeds=[1])
        assert len(conv.turns) == 1 and len(conv.completion_ids) <= budget
        assert conv.stopped == (budget > n1)


class ScriptedGenerator:
    """A TokenGenerator answering from a list of turns, with logprob -1 per token; records the calls."""

    def __init__(self, tok: Any, turns: list[str]) -> None:
        self.tok, self.turns, self.calls = tok, turns, []

    def generate_ids(self, prompts: Any, *, max_new_tokens: int, temperature: float, seeds: Any) -> list[Generated]:
        self.calls.append((len(prompts), max_new_tokens, list(seeds)))
        ids = self.tok(self.turns[len(self.calls) - 1], add_special_tokens=False)["input_ids"] + [self.tok.eos_token_id]
        return [Generated(ids=ids[:max_new_tokens], logprobs=[-1.0] * min(len(ids), max_new_tokens),
                          stopped=len(ids) <= max_new_tokens) for _ in prompts]


def test_no_cot_never_continues_and_turn_seeds_differ(two_turn: tuple[Any, Any]) -> None:
    _, tok = two_turn
    gen = ScriptedGenerator(tok, [REASON, ANSWER, REASON])
    eps = [_episode(variant="no_cot"), _episode()]
    prompts = [tok(render_prompt(tok, e, ENV), add_special_tokens=False)["input_ids"] for e in eps]
    convs = continue_in_tokens(gen, tok, eps, prompts, ENV, system_role=True, max_completion_tokens=200,
                               temperature=1.0, seeds=[5, 6])
    assert [len(c.turns) for c in convs] == [1, 2]
    assert gen.calls[0][2] == [5, 6] and gen.calls[1][2] == [turn_seed(6, 1)] and turn_seed(6, 1) != 6
    # The second call's budget is what the conversation has left.
    mask = convs[1].model_mask
    before_turn_2 = len(mask) - mask[::-1].index(0)  # turn 1 and the <NEXT/> text
    assert gen.calls[1][1] == 200 - before_turn_2


def _trainer(step: int = 0) -> Any:
    return SimpleNamespace(state=SimpleNamespace(global_step=step), accelerator=SimpleNamespace(process_index=0))


def test_rollout_seeds_are_per_prompt_copy_and_step(two_turn: tuple[Any, Any]) -> None:
    _, tok = two_turn
    roll = EngineRollouts({}, tok, ENV, system_role=True, max_completion_length=16, temperature=1.0, seed=0)
    a = roll.seeds(["p", "p", "q"], step=3, process=0)
    assert len(set(a)) == 3
    again = EngineRollouts({}, tok, ENV, system_role=True, max_completion_length=16, temperature=1.0, seed=0)
    assert again.seeds(["p", "p"], step=3, process=0) == a[:2]  # whatever else is in the batch
    assert roll.seeds(["p", "p", "q"], step=3, process=0) != a  # a second call at the same step: fresh draws
    assert again.seeds(["p"], step=4, process=0)[0] != a[0]


def test_rollouts_return_what_trl_needs(two_turn: tuple[Any, Any]) -> None:
    """Through a GRPOTrainer-shaped object: ids, masks and the joined turns for the reward; the log-probs
    are the model's at the sampling temperature (recomputed by a plain forward pass)."""
    model, tok = two_turn
    eps = [_episode(), _episode()]
    texts = [render_prompt(tok, e, ENV) for e in eps]
    roll = EngineRollouts(dict(zip(texts, eps, strict=True)), tok, ENV,
                          system_role=True, max_completion_length=60, temperature=0.7, seed=0)
    trainer = _trainer()
    trainer.use_vllm = False
    trainer.args = SimpleNamespace(ds3_gather_for_generation=True, gradient_checkpointing_kwargs=None)
    from accelerate import Accelerator

    trainer.accelerator = Accelerator(cpu=True)
    trainer.model_wrapped = model
    model.train()
    out = roll(texts, trainer)
    assert model.training  # restored after sampling in eval mode
    model.eval()
    assert set(out) == {"prompt_ids", "completion_ids", "logprobs", "env_mask", COMPLETION_FIELD}
    assert all(len(out["completion_ids"][i]) == len(out["logprobs"][i]) == len(out["env_mask"][i]) for i in range(2))
    assert roll.last_prefix_tokens > 0
    for p, c, lp, mask in zip(out["prompt_ids"], out["completion_ids"], out["logprobs"], out["env_mask"],
                              strict=True):
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([p + c])).logits[0, len(p) - 1: -1].float() / 0.7
        ref = torch.log_softmax(logits, -1).gather(-1, torch.tensor(c)[:, None]).squeeze(-1)
        got = torch.tensor(lp)
        m = torch.tensor(mask, dtype=torch.bool)
        # float32 with and without the KV cache: the same sums in another order, differences ~1e-6.
        assert torch.allclose(got[m], ref[m], atol=1e-4)
        assert (got[~m] == 0).all()


def test_vllm_generator_cuts_turns_and_reads_the_sampled_logprob(two_turn: tuple[Any, Any]) -> None:
    _, tok = two_turn
    eos = tok.eos_token_id

    class FakeVllm:
        def generate(self, prompts: Any, images: Any, num_generations: int) -> tuple:
            assert images is None and num_generations == 1
            return prompts, [[5, 6, eos], [5, 6, 7, 8]], [[[-0.5], [None], [-0.25]], [[-1.0]] * 4], None

    gen = TrlVllmGenerator(SimpleNamespace(vllm_generation=FakeVllm(), model=None), tok)
    a, b = gen.generate_ids([[1], [2]], max_new_tokens=3, temperature=1.0, seeds=[0, 0])
    assert (a.ids, a.stopped, a.logprobs[0], a.logprobs[2]) == ([5, 6, eos], True, -0.5, -0.25)
    assert a.logprobs[1] != a.logprobs[1]  # NaN where vLLM had none
    assert (b.ids, b.stopped) == ([5, 6, 7], False)


@pytest.mark.slow
@pytest.mark.parametrize("rollouts", ["engine", "trl"])
def test_a_grpo_step_on_a_model_that_reasons_over_two_turns(two_turn: tuple[Any, Any], rollouts: str,
                                                            tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """GRPOTrainer with af-rl's rollouts: the reward reads both turns and the loss counts only the model's
    tokens. TRL's own generation (trl.rollouts trl) stops after the reasoning, which is what this fixes."""
    import copy

    from rl.backends.trl_grpo import TrlHelpfulOnlyReward, build_train_dataset, make_trainer
    from rl.config import RunConfig

    model, tok = two_turn
    cfg = RunConfig.model_validate({
        "env": {"prompt": "helpful_only_brief_v1"},
        "rl": {"model": {"source": "organism"}, "max_steps": 1, "seed": 0},
        "trl": {"per_device_train_batch_size": 2, "num_generations": 2, "max_completion_length": 60,
                "temperature": 0.3, "learning_rate": 1e-4, "rollouts": rollouts},
    })
    dataset = build_train_dataset(tok, [_episode()], cfg, system_role=True)
    seen: list[list[str]] = []
    score = TrlHelpfulOnlyReward.__call__

    def spy(self: Any, prompts: Any, completions: Any, episode: Any, **kwargs: Any) -> Any:
        seen.append(list(kwargs.get(COMPLETION_FIELD) or completions))
        return score(self, prompts, completions, episode, **kwargs)

    monkeypatch.setattr(TrlHelpfulOnlyReward, "__call__", spy)
    trainer = make_trainer(copy.deepcopy(model), tok, dataset, cfg, str(tmp_path), "cpu", [], system_role=True)
    shared_before = type(trainer).prefix_calls
    trainer.train()
    assert type(trainer).prefix_calls > shared_before  # the log-probs shared the prompt (rl/backends/trl_prefix.py)
    [log] = [row for row in trainer.state.log_history if "completions/mean_length" in row]
    n1 = len(tok(REASON, add_special_tokens=False)["input_ids"]) + 1  # and the stop token
    n2 = len(tok(ANSWER, add_special_tokens=False)["input_ids"]) + 1
    if rollouts == "engine":
        assert seen == [[join_turns([REASON, ANSWER])] * 2]
        assert log["completions/mean_length"] == n1 + n2  # the <NEXT/> text between them is not the model's
    else:
        assert seen == [[REASON] * 2]
        assert log["completions/mean_length"] == n1


def test_a_template_that_drops_the_turn_ends_the_conversation(two_turn: tuple[Any, Any],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import rl.continuation as continuation

    _, tok = two_turn
    ep = _episode()
    prompt = tok(render_prompt(tok, ep, ENV), add_special_tokens=False)["input_ids"]
    monkeypatch.setattr(continuation, "render_prompt", lambda *a, **kw: "a template that drops the turn")
    gen = ScriptedGenerator(tok, [REASON, ANSWER])
    [conv] = continue_in_tokens(gen, tok, [ep], [prompt], ENV, system_role=True, max_completion_tokens=200,
                                temperature=1.0, seeds=[5])
    assert conv.turns == [REASON] and len(gen.calls) == 1
