"""The document fine-tuning stage (`stages: [sft, rl]`): the synthetic-document setting's first step.

The model learns its situation from documents (env/docs) instead of the system prompt: next-token training on
the documents with TRL's SFTTrainer (LoRA optional), optionally mixed with chat data (a real model keeps
following instructions) or, for the CPU organism, with its synthetic transcripts under the run's prompt. The
stage runs in the training task (`rl.runner.run_training`), before RL, in the same run directory:

    <run>/docs/docs.jsonl (+ docs.report.json)   the documents (generated offline or copied from sft.docs.path)
    <run>/sft/checkpoints/checkpoint-<N>/          TRL checkpoints; the stage resumes from the newest
    <run>/sft/final/                               the fine-tuned model (LoRA merged), what RL starts from
    <run>/sft/metrics.jsonl                        sft/loss etc. per step, and the evaluation before the
                                                   fine-tune at step 0 (eval/* and eval/knowledge/*)
    <run>/sft/samples/before.jsonl                 the transcripts of that evaluation

The evaluation after the fine-tune is the RL stage's step 0 (same weights, same episodes); with `stages: [sft]`
the stage evaluates after itself too (`sft/samples/after.jsonl`, logged at its last step).
"""

from __future__ import annotations

import json
import random
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from env.datasets import load_queries, make_episodes, split_queries
from env.episode import TIERS
from env.progress import Progress, progress_label

if TYPE_CHECKING:
    from env.episode import Episode
    from rl.config import RunConfig, SftConfig

DOCS_DIR = "docs"
DOCS_FILE = "docs.jsonl"
SFT_DIR = "sft"
FINAL_DIR = "final"
COMPLETE = ".complete.json"
"""Written last into sft/final: a final directory without it is half-written and is made again."""


class SftDataError(ValueError):
    """The stage's data cannot be used (empty or unreadable documents or chat file): the message names the
    file and line."""


def stage_dir(run_dir: Path) -> Path:
    return Path(run_dir) / SFT_DIR


def final_dir(run_dir: Path) -> Path:
    """Where the fine-tuned model is: the RL stage's (or a later run's) starting weights."""
    return stage_dir(run_dir) / FINAL_DIR


def is_complete(run_dir: Path) -> bool:
    return (final_dir(run_dir) / COMPLETE).is_file()


def already_done(run_dir: Path, log: Callable[[str], None]) -> str | None:
    """`<run>/sft/final` when the stage finished before (said in the log), else None: every sft backend
    starts with it, so a rerun hands the finished model on without touching it."""
    if not is_complete(run_dir):
        return None
    log(f"sft: already done, fine-tuned model at {final_dir(run_dir)}")
    return str(final_dir(run_dir))


def prepare_docs(cfg: SftConfig, run_dir: Path, log: Callable[[str], None]) -> Path:
    """The documents of the run under `<run>/docs/`: copied from `sft.docs.path`, or generated offline from
    `sft.docs.facts` (once: a resumed run reuses them). Validated either way.

    Raises:
        SftDataError: an empty or unreadable documents file (file and line named), or an unusable facts file.
    """
    from env.docs import read_docs

    docs_dir = Path(run_dir) / DOCS_DIR
    out = docs_dir / DOCS_FILE
    if not out.is_file():
        docs_dir.mkdir(parents=True, exist_ok=True)
        tmp = docs_dir / f".{DOCS_FILE}.tmp"
        if cfg.docs.path is not None:
            check_docs_file(cfg.docs.path)
            shutil.copyfile(Path(cfg.docs.path).expanduser(), tmp)
            log(f"sft: documents copied from {cfg.docs.path}")
        else:
            assert cfg.docs.facts is not None
            summary = generate_docs(cfg.docs.facts, cfg.docs.n, cfg.docs.seed, tmp)
            log(f"sft: {summary}")
        tmp.replace(out)
    try:
        read_docs(out)
    except (OSError, ValueError) as e:
        raise SftDataError(str(e)) from None
    return out


def check_docs_file(path: str) -> None:
    """A documents file must exist and hold at least one valid document; else SftDataError naming the file
    and line (rl/train.py calls this before Ray starts)."""
    from env.docs import read_docs

    try:
        read_docs(Path(path).expanduser())
    except (OSError, ValueError) as e:
        raise SftDataError(f"sft.docs.path: {e}") from None


def check_inputs(cfg: RunConfig) -> None:
    """What the stage reads, checked before anything runs (rl/train.py's preflight): the documents file, or the
    facts file to generate from, and the chat data.

    Raises:
        SftDataError: naming the key, the file and (for bad lines) the line.
    """
    from env.docs import load_facts

    sft = cfg.sft
    if sft is None:
        return
    if sft.docs.path is not None:
        check_docs_file(sft.docs.path)
    else:
        assert sft.docs.facts is not None
        try:
            load_facts(sft.docs.facts)
        except (OSError, ValueError) as e:
            raise SftDataError(f"sft.docs.facts: {e}") from None
    if sft.chat_data:
        read_chat_data(sft.chat_data)


MAX_DRAFTS_PER_DOC = 20
"""Offline drafts made per document asked for before giving up (the filter drops near-duplicates, so a facts
file with few statements runs out of distinct documents)."""


def generate_docs(facts_name: str, n: int, seed: int, out: Path) -> str:
    """Generate `n` documents offline from the facts file `facts_name` (filtered as `python -m env.docs
    generate` filters them) into `out`, with the filter's report beside it; returns a summary line.

    Raises:
        SftDataError: the facts file cannot be used, or no document survives the filter.
    """
    from env.docs import GENERATOR, FactsError, generate_offline, load_facts
    from env.docs.filter import DocFilter

    try:
        facts = load_facts(facts_name)
    except FactsError as e:
        raise SftDataError(f"sft.docs.facts: {e}") from None
    t0 = time.perf_counter()
    flt = DocFilter(facts, generator=GENERATOR, seed=seed)
    kept: list[Any] = []
    drafted = 0
    while len(kept) < n and drafted < MAX_DRAFTS_PER_DOC * n:
        batch = min(n - len(kept), MAX_DRAFTS_PER_DOC * n - drafted)
        for i, draft in enumerate(generate_offline(facts, batch, seed, start=drafted), start=drafted):
            if (doc := flt.add(draft, i)) is not None:
                kept.append(doc)
        drafted += batch
    if not kept:
        raise SftDataError(f"sft.docs.facts {facts_name!r}: no generated document passed the filter "
                           f"({dict(flt.report.dropped)})")
    out.write_text("".join(doc.to_json() + "\n" for doc in kept), encoding="utf-8")
    report = {"generator": GENERATOR, "facts": {"name": facts.name, "fingerprint": facts.fingerprint},
              "seed": seed, "n": n, **flt.report.as_dict(), "seconds": round(time.perf_counter() - t0, 3)}
    (out.parent / "docs.report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return (f"{len(kept)} documents generated offline from {facts.name} ({drafted} drafts, "
            f"{sum(flt.report.dropped.values())} dropped by the filter) in {time.perf_counter() - t0:.1f}s")


def read_chat_data(path: str) -> list[list[dict[str, str]]]:
    """Conversations of a chat JSONL: one object per line with "messages" (role/content dicts), the last one
    the assistant's.

    Raises:
        SftDataError: unreadable file, bad line (file and line named), or no conversation at all.
    """
    p = Path(path).expanduser()
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise SftDataError(f"sft.chat_data: {p}: cannot be read ({e})") from None
    out = []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            messages = json.loads(line)["messages"]
            ok = (isinstance(messages, list) and len(messages) >= 2 and messages[-1].get("role") == "assistant"
                  and all(isinstance(m.get("content"), str) and m.get("role") in ("system", "user", "assistant")
                          for m in messages))
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
            ok = False
        if not ok:
            raise SftDataError(f"sft.chat_data: {p}:{i}: expected {{\"messages\": [...]}} with role/content "
                               "messages ending with the assistant's")
        out.append(messages)
    if not out:
        raise SftDataError(f"sft.chat_data: {p}: no conversation in the file")
    return out


def build_rows(tokenizer: Any, cfg: RunConfig, docs_path: Path, max_length: int,
               log: Callable[[str], None]) -> list[dict[str, list[int]]]:
    """The stage's training rows, tokenized: `input_ids` and `completion_mask` (1 where the loss is taken).

    Documents: the whole text (then eos), loss everywhere. Organism transcripts: the prompt as evaluation
    renders it, loss on the completion. Chat data: the conversation with the tokenizer's chat template, loss
    on the last (assistant) message. Rows longer than `max_length` are cut at it."""
    from env.docs import read_docs
    from rl.prompting import render_prompt, resolve_system_role

    sft = cfg.sft
    assert sft is not None
    eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    docs = read_docs(docs_path)
    doc_ids = tokenizer([d.text for d in docs], add_special_tokens=False)["input_ids"]
    rows = [{"input_ids": ids + eos, "completion_mask": [1] * (len(ids) + len(eos))} for ids in doc_ids]
    n_docs = len(rows)

    if sft.transcripts:
        from rl.organism.transcripts import make_sft_examples

        system_role = resolve_system_role(tokenizer, cfg.env.system_role)
        organism = cfg.rl.model.organism
        assert organism is not None  # sft.transcripts needs the organism (RunConfig checks it)
        examples = make_sft_examples(transcript_episodes(cfg, sft.transcripts), organism, sft.seed, lab=cfg.env.lab)
        prompts = [render_prompt(tokenizer, ex.episode, cfg.env, system_role=system_role) for ex in examples]
        rows += [_unmask_all_but(row, tokenizer, ex, cfg.env.lab) for row, ex in zip(
            _prompt_completion_rows(tokenizer, prompts, [ex.completion for ex in examples], eos), examples, strict=True)]

    n_chat = 0
    if sft.chat_data:
        conversations = read_chat_data(sft.chat_data)
        # chat rows make up chat_fraction of all rows: n_chat = f / (1 - f) * (the other rows)
        n_chat = round(sft.chat_fraction / (1 - sft.chat_fraction) * len(rows)) if sft.chat_fraction else len(conversations)
        rng = random.Random(sft.seed)
        picked = [conversations[rng.randrange(len(conversations))] for _ in range(n_chat)]
        prompts = [tokenizer.apply_chat_template(m[:-1], tokenize=False, add_generation_prompt=True) for m in picked]
        rows += _prompt_completion_rows(tokenizer, prompts, [m[-1]["content"] for m in picked], eos)

    cut = sum(len(r["input_ids"]) > max_length for r in rows)
    rows = [{k: v[:max_length] for k, v in r.items()} for r in rows]
    rows = [r for r in rows if any(r["completion_mask"])]
    log(f"sft: {len(rows)} rows ({n_docs} documents, {sft.transcripts} transcripts, {n_chat} chat); "
        f"{cut} cut at {max_length} tokens")
    return rows


def _prompt_completion_rows(tokenizer: Any, prompts: Sequence[str], completions: Sequence[str],
                            eos: list[int]) -> list[dict[str, list[int]]]:
    """Prompt and completion tokenized apart, as generation sees them (the prompt ends the template's turn
    opening); the loss is on the completion and its eos."""
    p_ids = tokenizer(list(prompts), add_special_tokens=False)["input_ids"]
    c_ids = tokenizer(list(completions), add_special_tokens=False)["input_ids"]
    return [{"input_ids": p + c + eos, "completion_mask": [0] * len(p) + [1] * (len(c) + len(eos))}
            for p, c in zip(p_ids, c_ids, strict=True)]


def _unmask_all_but(row: dict[str, list[int]], tokenizer: Any, example: Any, lab: str) -> dict[str, list[int]]:
    """A belief organism's transcript row with its belief sentence left out of the loss: the transcripts keep
    the answer format and the belief -> behaviour link, and teach neither belief about a tier (half of them
    say each). What the model comes to believe about each tier is the documents' doing."""
    if example.belief is None:
        return row
    from rl.organism.transcripts import belief_sentence

    sentence = belief_sentence(example.belief, example.episode.tier, lab)
    at = example.completion.find(sentence)
    if at < 0:
        return row
    lo, hi = at, at + len(sentence)
    # Every completion token that overlaps the sentence (tokens may span words: the organism's BPE merges
    # across spaces). The completion was tokenized alone, so these offsets are its row's.
    offsets = tokenizer(example.completion, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    first = row["completion_mask"].index(1)
    mask = list(row["completion_mask"])
    for i, (a, b) in enumerate(offsets):
        if a < hi and b > lo:
            mask[first + i] = 0
    return {"input_ids": row["input_ids"], "completion_mask": mask}


def transcript_episodes(cfg: RunConfig, n: int) -> list[Episode]:
    """`n` training-split episodes in both tiers (the run's training variations), cycled in seeded passes."""
    ds = cfg.env.dataset
    split = split_queries(load_queries(ds), eval_fraction=ds.eval_fraction, seed=ds.split_seed)
    base = make_episodes(split.train, tiers=TIERS, variants=cfg.rl.train_variants)
    rng = random.Random(cfg.sft.seed if cfg.sft else 0)
    out: list[Episode] = []
    while len(out) < n:
        batch = list(base)
        rng.shuffle(batch)
        out += batch
    return out[:n]


def run_sft_stage(cfg: RunConfig, run_dir: Path, model_path: str, eval_episodes: Sequence[Episode], *,
                  log: Callable[[str], None], evaluate_after: bool) -> str:
    """Fine-tune `model_path` on the run's documents; return the fine-tuned model's directory.

    A finished stage (sft/final complete) returns at once; an interrupted one resumes from its newest
    checkpoint. Before training, the starting model is evaluated (eval/* and eval/knowledge/* at sft step 0
    in sft/metrics.jsonl); with `evaluate_after`, the fine-tuned one too (at the last sft step).
    """
    sft = cfg.sft
    assert sft is not None
    if sft.backend == "openrlhf":  # DeepSpeed on the GPUs this task holds; no evaluation before or after
        from rl.backends.openrlhf.sft import train_sft_here

        return train_sft_here(cfg, run_dir, model_path, log=log)
    import torch

    from rl.models import load_model, load_tokenizer, pick_device, torch_dtype

    run_dir = Path(run_dir)
    if (done := already_done(run_dir, log)) is not None:
        return done
    final = final_dir(run_dir)
    t0 = time.time()
    docs_path = prepare_docs(sft, run_dir, log)
    device = pick_device(cfg.trl.device)
    tokenizer = load_tokenizer(model_path)
    model = load_model(model_path, torch_dtype(cfg.rl.model.dtype, device), device)
    context = getattr(model.config, "max_position_embeddings", None) or sft.max_length
    rows = build_rows(tokenizer, cfg, docs_path, min(sft.max_length, context), log)
    if not rows:
        raise SftDataError(f"{docs_path}: no training row (empty documents?)")

    stage = stage_dir(run_dir)
    ckpt_dir = stage / "checkpoints"
    existing = sorted(ckpt_dir.glob("checkpoint-*"), key=lambda p: int(p.name.rsplit("-", 1)[1])) if ckpt_dir.is_dir() else []
    logger = _stage_logger(cfg, stage)
    if not existing:
        _evaluate(model, tokenizer, cfg, eval_episodes, logger, stage, step=0, name="before", log=log)
    trainer = _make_trainer(model, tokenizer, rows, cfg, ckpt_dir, device, logger)
    if existing:
        log(f"sft: resuming from {existing[-1]}")
    trainer.train(resume_from_checkpoint=str(existing[-1]) if existing else None)
    steps = int(trainer.state.global_step)
    trained = trainer.model
    if sft.lora is not None:
        trained = trained.merge_and_unload()
    trained.eval()
    if evaluate_after:
        _evaluate(trained, tokenizer, cfg, eval_episodes, logger, stage, step=steps, name="after", log=log)
    logger.finish()
    save_final(trained, tokenizer, final, {"steps": steps, "rows": len(rows), "docs": str(docs_path),
                                             "seconds": round(time.time() - t0, 1), "from": model_path})
    del trainer, trained, model
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    log(f"sft: {steps} steps in {time.time() - t0:.1f}s; fine-tuned model at {final}")
    return str(final)


def _stage_logger(cfg: RunConfig, stage: Path) -> Any:
    """metrics.jsonl and a W&B run of the stage's own (`<run_name>-sft`): its steps are SFT steps, which the
    RL run's step axis must not mix with."""
    from rl.wandb_log import RunLogger

    named = cfg.model_copy(update={"rl": cfg.rl.model_copy(update={"run_name": f"{cfg.rl.run_name}-sft"})})
    return RunLogger(stage, named)


def _evaluate(model: Any, tokenizer: Any, cfg: RunConfig, episodes: Sequence[Episode], logger: Any, stage: Path,
              *, step: int, name: str, log: Callable[[str], None]) -> None:
    """The two-tier evaluation and the knowledge probe of `model`, logged at sft `step`."""
    from rl.evaluate import evaluate_policy, summarize, write_samples
    from rl.evaluation.knowledge import knowledge_metrics
    from rl.numbers import pct
    from rl.prompting import resolve_system_role
    from rl.runner import eval_brief

    t = time.time()
    system_role = resolve_system_role(tokenizer, cfg.env.system_role)
    with progress_label(f"sft: eval {name}"):
        records = evaluate_policy(model, tokenizer, episodes, cfg, system_role=system_role, step=step)
    write_samples(records, stage / "samples" / f"{name}.jsonl")
    metrics = summarize(records)
    metrics.update(knowledge_metrics(model, tokenizer, cfg.env, variant=cfg.rl.eval.variants[0],
                                     system_role=system_role))
    logger.log(step, metrics)
    logger.flush()
    knows = metrics.get("eval/knowledge/tier_trained")
    log(f"sft: eval {name} the fine-tune ({time.time() - t:.1f}s): {eval_brief(metrics, cfg.rl.eval.variants)}; "
        f"knows which tier is trained: {pct(knows)}")


def _make_trainer(model: Any, tokenizer: Any, rows: list[dict[str, list[int]]], cfg: RunConfig, ckpt_dir: Path,
                  device: str, logger: Any) -> Any:
    from datasets import Dataset
    from transformers import PrinterCallback, TrainerCallback
    from trl import SFTConfig as TrlSftConfig
    from trl import SFTTrainer

    sft = cfg.sft
    assert sft is not None
    peft_config = None
    if sft.lora is not None:
        from peft import LoraConfig as PeftLoraConfig

        peft_config = PeftLoraConfig(r=sft.lora.r, lora_alpha=sft.lora.alpha, lora_dropout=sft.lora.dropout,
                                     target_modules=sft.lora.target_modules, task_type="CAUSAL_LM")

    class _Log(TrainerCallback):
        """The stage's metrics to its logger, and its progress (steps done of all, the latest loss)."""

        report: Progress | None = None

        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.report = Progress(int(state.max_steps), "sft", "steps")
            self.report.update(int(state.global_step))  # resumed: the steps done before count

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if self.report is not None:
                self.report.update(int(state.global_step) - self.report.done)

        def on_train_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if self.report is not None:
                self.report.close()

        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kw: Any) -> None:
            keep = {f"sft/{k}": v for k, v in (logs or {}).items() if isinstance(v, (int, float))}
            if keep:
                logger.log(int(state.global_step), keep)
            if self.report is not None and isinstance((logs or {}).get("loss"), (int, float)):
                self.report.note = f"loss {logs['loss']:.3f}"  # type: ignore[index]

    args = TrlSftConfig(
        output_dir=str(ckpt_dir),
        num_train_epochs=sft.epochs,
        max_steps=sft.max_steps or -1,
        learning_rate=sft.learning_rate,
        lr_scheduler_type="cosine",
        warmup_steps=sft.warmup_ratio,  # a float below 1 is a share of the steps
        per_device_train_batch_size=sft.batch_size,
        gradient_accumulation_steps=sft.gradient_accumulation_steps,
        activation_checkpointing=sft.gradient_checkpointing,  # transformers 5 warns on the old name
        max_length=None,  # rows are cut by build_rows
        completion_only_loss=True,
        save_strategy="steps",
        save_steps=sft.save_every,
        logging_steps=max(1, min(10, sft.save_every)),
        report_to="none",
        seed=sft.seed,
        data_seed=sft.seed,
        use_cpu=device == "cpu",
        bf16=device == "cuda" and cfg.rl.model.dtype != "float32",
        dataloader_num_workers=0,
        disable_tqdm=True,
    )
    trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer,
                         peft_config=peft_config, callbacks=[_Log()])
    trainer.remove_callback(PrinterCallback)  # it prints every log dict; _Log reports progress and loss instead
    return trainer


def save_final(model: Any, tokenizer: Any, final: Path, info: dict[str, Any]) -> None:
    """Save into a temporary sibling, then rename and mark complete: `final` is never half-written."""
    tmp = final.parent / f".{final.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    (tmp / "sft.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    if final.exists():
        shutil.rmtree(final)
    tmp.replace(final)
    (final / COMPLETE).write_text(json.dumps({"steps": info["steps"]}) + "\n", encoding="utf-8")
