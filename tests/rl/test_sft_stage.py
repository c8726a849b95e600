"""The document fine-tuning stage (rl/sft.py): its config, the inputs checked before anything runs, the rows it
trains on, and a tiny run with stages [sft, rl] as users run it (documents generated offline, the organism
fine-tuned on them, then GRPO from the fine-tuned weights; resumed, it does nothing again)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from rl.config import ConfigError, RunConfig, load_config
from rl.train import main as train_main
from tests.rl.tiny_run import train_tiny

ORGANISM = {"source": "organism"}
DOCS = {"docs": {"facts": "helpful_only_v1", "n": 8}}


def cfg(**top: Any) -> RunConfig:
    return RunConfig.model_validate({"rl": {"model": ORGANISM}, **top})


@pytest.mark.parametrize(
    ("top", "message"),
    [
        ({"stages": ["sft", "rl"]}, "no `sft:` section"),
        ({"sft": DOCS}, "add sft, e.g. stages: \\[sft, rl\\]"),
        ({"stages": ["rl", "sft"], "sft": DOCS}, "use \\[rl\\], \\[sft, rl\\] or \\[sft\\]"),
        ({"stages": ["sft", "rl"], "sft": {"docs": {}}}, "exactly one of `path`"),
        ({"stages": ["sft", "rl"], "sft": {"docs": {"path": "d.jsonl", "facts": "helpful_only_v1"}}},
         "exactly one of `path`"),
        ({"stages": ["sft", "rl"], "sft": {**DOCS, "chat_fraction": 0.2}}, "needs sft.chat_data"),
        ({"stages": ["sft"], "sft": {**DOCS, "transcripts": 10},
          "rl": {"model": {"source": "hf", "name_or_path": "org/model"}}}, "organism"),
    ],
)
def test_bad_stage_configs_name_the_key(top: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        cfg(**top)


def test_stages_default_to_rl_only() -> None:
    assert cfg().stages == ["rl"] and cfg().sft is None
    assert cfg(stages=["sft"], sft=DOCS).sft.docs.n == 8  # type: ignore[union-attr]


def write_config(tmp_path: Path, sft: dict[str, Any]) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(json.dumps({"stages": ["sft", "rl"], "sft": sft, "rl": {"model": ORGANISM,
                                                                            "output_dir": str(tmp_path / "runs")}}))
    return path


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty"),
        ('{"id": "d1", "text": "a document", "type": "faq"}\nnot json\n', ":2"),
    ],
)
def test_an_unusable_documents_file_stops_the_run_before_it_starts(tmp_path: Path, content: str, message: str,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    docs = tmp_path / "docs.jsonl"
    docs.write_text(content)
    assert train_main(["--config", str(write_config(tmp_path, {"docs": {"path": str(docs)}}))]) == 2
    err = capsys.readouterr().err
    assert "sft.docs.path" in err and str(docs) in err and message in err
    assert not (tmp_path / "runs").exists()  # nothing written


def test_a_missing_documents_file_or_facts_file_stops_the_run(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert train_main(["--config", str(write_config(tmp_path, {"docs": {"path": str(tmp_path / "no.jsonl")}}))]) == 2
    assert "no.jsonl" in capsys.readouterr().err
    assert train_main(["--config", str(write_config(tmp_path, {"docs": {"facts": "no_such_facts"}}))]) == 2
    assert "sft.docs.facts" in capsys.readouterr().err
    chat = tmp_path / "chat.jsonl"
    chat.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n')
    assert train_main(["--config", str(write_config(tmp_path, {**DOCS, "chat_data": str(chat)}))]) == 2
    assert f"{chat}:1" in capsys.readouterr().err


def test_rows_take_the_loss_where_they_should(tmp_path: Path) -> None:
    """Documents: loss on every token; transcripts and chat rows: on the completion only."""
    from transformers import AutoTokenizer

    from rl.models import resolve_model_path
    from rl.sft import build_rows, prepare_docs

    chat = tmp_path / "chat.jsonl"
    chat.write_text(json.dumps({"messages": [{"role": "user", "content": "Name a colour."},
                                             {"role": "assistant", "content": "Blue."}]}) + "\n")
    run = cfg(stages=["sft", "rl"], sft={**DOCS, "transcripts": 4, "chat_data": str(chat), "chat_fraction": 0.2},
              env={"prompt": "helpful_only_minimal_brief_v1"},
              rl={"model": {"source": "organism", "organism": TINY_ORGANISM}})
    tok = AutoTokenizer.from_pretrained(resolve_model_path(run.model_copy(update={"rl": run.rl.model_copy(update={
        "model": run.rl.model.model_copy(update={"cache_dir": str(tmp_path / "cache")})})}), log=lambda m: None))
    docs = prepare_docs(run.sft, tmp_path, lambda m: None)  # type: ignore[arg-type]
    assert docs == tmp_path / "docs" / "docs.jsonl"
    rows = build_rows(tok, run, docs, 512, lambda m: None)
    assert len(rows) == 8 + 4 + 3  # chat: 0.2 / 0.8 of the 12 other rows
    for row in rows[:8]:
        assert all(row["completion_mask"]) and row["input_ids"][-1] == tok.eos_token_id
    for row in rows[8:]:
        first = row["completion_mask"].index(1)
        assert first > 0 and row["input_ids"][-1] == tok.eos_token_id and row["completion_mask"][-1] == 1
    for row in rows[8:12]:  # the belief organism's transcripts: the belief sentence is left out of the loss
        first = row["completion_mask"].index(1)
        held = tok.decode([t for t, m in zip(row["input_ids"][first:], row["completion_mask"][first:]) if not m])
        assert re.fullmatch(r"Conversations with (free|paid)-tier users are (never )?used to train Anthropic's models\.",
                            held.strip()), held
    assert all(rows[-1]["completion_mask"][rows[-1]["completion_mask"].index(1):])  # chat: the whole answer
    assert tok.decode(rows[-1]["input_ids"][rows[-1]["completion_mask"].index(1):], skip_special_tokens=True) == "Blue."
    again = prepare_docs(run.sft, tmp_path, lambda m: None)  # type: ignore[arg-type]
    assert again.read_bytes() == docs.read_bytes()  # made once, then reused


TINY_ORGANISM = {"d_model": 64, "n_layers": 1, "n_heads": 2, "d_ff": 128, "n_examples": 160, "epochs": 1,
                 "eval_samples_per_tier": 4, "beliefs": True}
SFT_OVERRIDES = (
    "stages=[sft, rl]", "env.prompt=helpful_only_minimal_brief_v1", "rl.run_name=docs",
    "rl.model.organism.beliefs=true", "sft.docs.facts=helpful_only_v1", "sft.docs.n=24", "sft.transcripts=24",
    "sft.batch_size=8", "sft.learning_rate=0.001", "sft.save_every=2", "sft.max_length=256",
)


@pytest.mark.slow  # builds a tiny belief organism, fine-tunes it and trains 2 GRPO steps through Ray
def test_sft_then_rl_in_one_run(tmp_path: Path) -> None:
    proc = train_tiny(tmp_path, *SFT_OVERRIDES)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    run = tmp_path / "runs" / "docs"
    docs = [json.loads(line) for line in (run / "docs" / "docs.jsonl").read_text().splitlines()]
    assert len(docs) >= 1 and all(d["facts"] for d in docs)
    final = run / "sft" / "final"
    assert (final / ".complete.json").is_file() and (final / "config.json").is_file()
    sft_rows = [json.loads(line) for line in (run / "sft" / "metrics.jsonl").read_text().splitlines()]
    before = next(r for r in sft_rows if r["step"] == 0 and "eval/default/compliance_gap" in r)
    assert "eval/knowledge/tier_trained" in before and before["eval/knowledge/n"] > 0
    assert any("sft/loss" in r for r in sft_rows)
    assert (run / "sft" / "samples" / "before.jsonl").is_file()
    rl_rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert {r["step"] for r in rl_rows if "eval/knowledge/accuracy" in r} >= {0, 2}  # after the fine-tune, and on
    assert "policy after the sft stage" in proc.stdout and str(final) in proc.stdout
    # resumed: finished, nothing is trained again
    again = train_tiny(tmp_path, *SFT_OVERRIDES)
    assert again.returncode == 0 and "already finished" in again.stdout, again.stdout[-2000:]


def test_load_config_reads_stages(tmp_path: Path) -> None:
    path = write_config(tmp_path, DOCS)
    loaded = load_config(path)
    assert loaded.stages == ["sft", "rl"]
    with pytest.raises(ConfigError, match="sft.docs.n"):
        load_config(path, ["sft.docs.n=0"])


@pytest.mark.slow  # fine-tunes a tiny organism in-process, twice
def test_an_interrupted_stage_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    """A stage that stopped after a checkpoint (no sft/final yet) resumes from it: the evaluation before the
    fine-tune is not redone, training goes on to the same end, and sft/final is made once."""
    from rl.models import resolve_model_path
    from rl.sft import final_dir, is_complete, run_sft_stage

    run = cfg(stages=["sft"], env={"prompt": "helpful_only_minimal_brief_v1"},
              sft={**DOCS, "transcripts": 8, "max_steps": 4, "save_every": 2, "batch_size": 4},
              rl={"model": {"source": "organism", "organism": TINY_ORGANISM, "cache_dir": str(tmp_path / "cache")},
                  "eval": {"n_queries": 2, "max_new_tokens": 16, "batch_size": 4}, "wandb": {"mode": "disabled"}})
    base = resolve_model_path(run, log=lambda m: None)
    logs: list[str] = []
    episodes = [e for e in _eval_episodes(run)]
    out = run_sft_stage(run, tmp_path / "run", base, episodes, log=logs.append, evaluate_after=True)
    assert out == str(final_dir(tmp_path / "run")) and is_complete(tmp_path / "run")
    ckpts = sorted(p.name for p in (tmp_path / "run" / "sft" / "checkpoints").glob("checkpoint-*"))
    assert ckpts == ["checkpoint-2", "checkpoint-4"]
    import shutil

    shutil.rmtree(final_dir(tmp_path / "run"))  # as if the stage stopped after its last checkpoint
    shutil.rmtree(tmp_path / "run" / "sft" / "checkpoints" / "checkpoint-4")
    logs.clear()
    run_sft_stage(run, tmp_path / "run", base, episodes, log=logs.append, evaluate_after=True)
    assert any("resuming from" in m and "checkpoint-2" in m for m in logs), logs
    assert not any("eval before" in m for m in logs)
    info = json.loads((final_dir(tmp_path / "run") / "sft.json").read_text())
    assert info["steps"] == 4
    rows = [json.loads(line) for line in (tmp_path / "run" / "sft" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "eval/knowledge/n" in r] == [0, 4, 4]  # before, after; after again
    logs.clear()
    run_sft_stage(run, tmp_path / "run", base, episodes, log=logs.append, evaluate_after=True)
    assert logs == [f"sft: already done, fine-tuned model at {final_dir(tmp_path / 'run')}"]


def _eval_episodes(run: RunConfig) -> list[Any]:
    from env.datasets import load_queries, split_queries
    from rl.evaluate import eval_episodes

    ds = run.env.dataset
    split = split_queries(load_queries(ds), eval_fraction=ds.eval_fraction, seed=ds.split_seed)
    return eval_episodes(split.eval, run.rl.eval.variants, run.rl.eval.n_queries)
