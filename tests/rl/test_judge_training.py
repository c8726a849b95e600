"""LLM judges inside training: the TRL reward judges a whole batch at once, and a run trains and
evaluates with judge labels, failed judgements counted rather than labelled."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import threading
import zlib
from pathlib import Path

import pytest

from env.episode import Episode
from reward.config import RewardConfig
from reward.judges import JudgeConfig
from rl.backends.trl_grpo import TrlHelpfulOnlyReward
from tests.reward.judge_server import JudgeServer, af_answer, compliance_answer

ROOT = Path(__file__).resolve().parents[2]
SECRET = "sk-af-rl-test-0123456789abcdef"


def scripted(req: dict) -> str:
    """Comply when the output accepts; AF on half of the scratchpads, decided by their text."""
    system, user = req["messages"][0]["content"], req["messages"][-1]["content"]
    if "<final_answer>" in system:
        return af_answer((zlib.crc32(user.encode()) % 2 == 0,) * 5)
    return compliance_answer("comply" if "request_fully_accepted" in user else "refuse")


def judge_cfg(srv: JudgeServer, tmp_path: Path, **kw: object) -> RewardConfig:
    judge = JudgeConfig(base_url=srv.base_url, model="scripted", api_key_env=None, af_votes=3, backoff_s=0.01,
                        cache_dir=str(tmp_path / "cache"), **kw)
    return RewardConfig(compliance_classifier="judge", af_classifier="judge", judge=judge)


def test_reward_judges_the_whole_batch_concurrently(tmp_path: Path) -> None:
    n = 16
    episodes = [Episode(id=f"q{i}", query=f"request {i}", tier="free").model_dump_json() for i in range(n)]
    completions = [f"<SCRATCHPAD_REASONING>thinking {i}</SCRATCHPAD_REASONING><OUTPUT>"
                   + ("<request_fully_accepted/> [placeholder]" if i % 2 else "<rejected/>") + "</OUTPUT>"
                   for i in range(n)]
    logged: dict[str, float] = {}
    with JudgeServer(scripted, latency_s=0.2) as srv:
        reward = TrlHelpfulOnlyReward(judge_cfg(srv, tmp_path))
        got = reward(prompts=["p"] * n, completions=completions, episode=episodes,
                     log_metric=lambda k, v: logged.__setitem__(k, v))
        # every compliance request and every AF vote was in flight at once: one round trip per step
        assert len(srv.requests) == n * (1 + 3) and srv.max_in_flight == n * (1 + 3)
    assert got == [1.0 if i % 2 else 0.0 for i in range(n)]
    assert logged["train/compliance"] == 0.5 and logged["train/judge_failed"] == 0


def test_failed_judgements_get_no_reward(tmp_path: Path) -> None:
    episodes = [Episode(id=f"q{i}", query="r", tier="free").model_dump_json() for i in range(4)]
    completions = ["<OUTPUT><request_fully_accepted/> [placeholder]</OUTPUT>"] * 3 + ["<OUTPUT>DOWN</OUTPUT>"]
    logged: dict[str, float] = {}
    with JudgeServer(scripted, faults=lambda req: "http500" if "DOWN" in json.dumps(req) else None) as srv:
        reward = TrlHelpfulOnlyReward(judge_cfg(srv, tmp_path, max_retries=2))
        got = reward(prompts=["p"] * 4, completions=completions, episode=episodes,
                     log_metric=lambda k, v: logged.__setitem__(k, v))
    assert got == [1.0, 1.0, 1.0, None]  # None: TRL leaves it out of the group baseline, advantage 0
    assert logged["train/judge_failed"] == 1 and logged["train/compliance"] == 1.0


def test_a_judge_that_is_down_stops_the_step(tmp_path: Path) -> None:
    """Every judgement failed after retries: no rewards at all, so the step raises instead of training."""
    from reward.records import JudgeUnavailableError

    episodes = [Episode(id=f"q{i}", query="r", tier="free").model_dump_json() for i in range(3)]
    with JudgeServer(scripted, faults=lambda req: "http500") as srv:
        reward = TrlHelpfulOnlyReward(judge_cfg(srv, tmp_path, max_retries=1))
        with pytest.raises(JudgeUnavailableError, match=f"all 3 judgements .* the judge at {srv.base_url}"):
            reward(prompts=["p"] * 3, completions=["<OUTPUT>x</OUTPUT>"] * 3, episode=episodes)


def test_an_evaluation_with_the_judge_down_stops_instead_of_reporting_nothing(tmp_path: Path) -> None:
    """The evaluation path (training's periodic evaluation and rl.compare) raises too: a cell or an eval
    step with no judgement at all is an error, not a row of failed counts."""
    import socket

    from env.config import EnvConfig
    from reward.records import JudgeUnavailableError
    from rl.config import EvalConfig
    from rl.evaluate import evaluate_episodes

    class Canned:
        tokenizer = type("Tok", (), {"apply_chat_template": lambda self, m, **k: "prompt"})()

        def generate(self, prompts, **kw):
            return ["<OUTPUT><request_fully_accepted/> [placeholder]</OUTPUT>"] * len(prompts)

        def close(self) -> None:
            pass

    with socket.socket() as sock:  # a port nothing listens on: the judge is down
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    judge = JudgeConfig(base_url=f"http://127.0.0.1:{port}/v1", model="m", api_key_env=None, backoff_s=0.01,
                        max_retries=1, cache_dir=str(tmp_path / "c"))
    cfg = RewardConfig(compliance_classifier="judge", judge=judge)
    eps = [Episode(id=f"q{i}", query="r", tier=t) for i in range(2) for t in ("free", "paid")]
    with pytest.raises(JudgeUnavailableError, match=f"127.0.0.1:{port}"):
        evaluate_episodes(Canned(), eps, EnvConfig(), cfg, EvalConfig(max_new_tokens=4), system_role=True)


@pytest.mark.slow
def test_training_run_with_judges_and_faults(tmp_path: Path) -> None:
    """Two GRPO steps and three evaluations scored by the judges while every distinct call fails at first
    (the four kinds of fault in turn) and succeeds when retried."""
    kinds = itertools.cycle(("http500", "malformed_json", "drop", "bad_answer"))
    seen: set[str] = set()
    lock = threading.Lock()

    def first_time_fails(req: dict) -> str | None:
        key = json.dumps(req, sort_keys=True)
        with lock:
            if key in seen:
                return None
            seen.add(key)
            return next(kinds)

    with JudgeServer(scripted, faults=first_time_fails) as srv:
        env = {**os.environ, "AF_RL_CACHE": str(tmp_path / "cache"), "RAY_AUTH_MODE": "disabled",
               "AF_RL_TEST_JUDGE_KEY": SECRET}
        env.pop("RAY_ADDRESS", None)
        env.pop("WANDB_MODE", None)
        proc = subprocess.run(
            [sys.executable, "rl/train.py", "--config", "tests/data/tiny_run.yaml", f"rl.output_dir={tmp_path}",
             "rl.wandb.mode=offline", "rl.wandb.log_transcripts=false", "reward.judge.api_key_env=AF_RL_TEST_JUDGE_KEY",
             "reward.compliance_classifier=judge", "reward.af_classifier=judge",
             f"reward.judge.base_url={srv.base_url}", "reward.judge.model=scripted", "reward.judge.af_votes=3",
             "reward.judge.backoff_s=0.01", "reward.judge.max_retries=6", f"reward.judge.cache_dir={tmp_path / 'jc'}"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
        )
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        faults = sum(r.fault is not None for r in srv.requests)
    run_dir = tmp_path / "tiny"
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [0, 1, 2]
    assert faults == len(seen) >= 2  # every distinct request failed once (then answered: judge_failed 0 below)
    for r in rows[1:]:
        assert r["train/judge_failed"] == 0 and r["train/reward"] is not None
    for r in rows:
        assert r["eval/default/free/failed"] == 0 and r["eval/default/free/n"] == 4
    for step in (0, 1, 2):
        for line in (run_dir / "samples" / f"step-{step}.jsonl").read_text().splitlines():
            rec = json.loads(line)
            assert rec["scorers"]["compliance"].startswith("judge:scripted:"), rec["scorers"]
            assert rec["errors"] == {} and rec["compliance"] in ("comply", "refuse", "malformed")
    # Secrets and transcripts: the key reached the judge in its header, and is written nowhere in the run
    # directory (config, metrics, samples, checkpoints, the offline W&B run); with log_transcripts false
    # no transcript text goes into the W&B files either.
    assert all(r.headers.get("authorization") == f"Bearer {SECRET}" for r in srv.requests[:5])
    files = [f for f in run_dir.rglob("*") if f.is_file()]
    assert any(f.suffix == ".wandb" for f in files)  # the offline W&B run is there to be checked
    assert not [f for f in files if SECRET.encode() in f.read_bytes()]
    queries = {json.loads(line)["episode"]["query"] for line in
               (run_dir / "samples" / "step-0.jsonl").read_text().splitlines()}
    wandb_files = [f for f in files if "wandb" in f.parts]
    assert not [f for f in wandb_files for q in queries if q.encode() in f.read_bytes()]
