"""The document fine-tune through OpenRLHF's SFT trainer (`sft.backend: openrlhf`): DeepSpeed on the GPUs of one
node, for models too big for the TRL backend's one device. What it leaves in the run directory:

    <run>/docs/docs.jsonl                  the documents (rl.sft.prepare_docs, as with the TRL backend)
    <run>/sft/openrlhf/dataset.jsonl       OpenRLHF's SFT dataset, one {"text": ...} row per line (pretrain mode)
    <run>/sft/openrlhf/command.txt         the launch command (written before the flag check, so kept on a refusal)
    <run>/sft/openrlhf/train_sft.log       DeepSpeed's and OpenRLHF's output
    <run>/sft/openrlhf/ckpt/               DeepSpeed checkpoints; a restarted stage resumes from the newest
    <run>/sft/openrlhf/model/              what OpenRLHF saves at the end: the LoRA adapter (or the whole model)
    <run>/sft/final/                       the adapter merged into the base model: what RL trains

With rl.backend openrlhf the driver calls `run_sft_task`, which runs `train_sft_here` as one Ray task holding
sft.openrlhf.num_gpus GPUs of one node; with rl.backend trl the training task calls `train_sft_here` itself
(rl.sft.run_sft_stage), on the GPUs it holds. OpenRLHF needs CUDA to import, so nothing here imports it.
"""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from rl.backends.openrlhf.files import REPO_ROOT
from rl.backends.openrlhf.flags import TRAIN_SFT
from rl.backends.openrlhf.common import WANDB_KEY_PLACEHOLDER, OpenRlhfError, check_cli_args, lora_args
from rl.sft import DOCS_DIR, DOCS_FILE, already_done, final_dir, stage_dir

if TYPE_CHECKING:
    from rl.config import RunConfig

TRAIN_SFT_MODULE = "openrlhf.cli.train_sft"
WORK_DIR = "openrlhf"
"""Under `<run>/sft/`."""
DATASET_FILE = "dataset.jsonl"
INPUT_KEY = "text"
"""The dataset's column OpenRLHF reads (--data.input_key)."""
LOG_FILE = "train_sft.log"
TRAINED = ".trained.json"
"""Written into `model/` once OpenRLHF exited 0: a restart then only merges."""


def work_dir(run_dir: Path) -> Path:
    return stage_dir(run_dir) / WORK_DIR


@dataclass(frozen=True)
class SftDataset:
    """The dataset file and what is in it."""

    path: Path
    rows: int
    docs: int
    chat: int


def write_sft_dataset(out: Path, texts: Sequence[str], tokenizer: Any, *,
                      conversations: Sequence[list[dict[str, str]]] = (), chat_fraction: float = 0.0,
                      seed: int = 0) -> SftDataset:
    """Write OpenRLHF's SFT dataset for pretrain mode: one `{"text": ...}` object per line, trained on whole
    (loss on every token), as documents need.

    OpenRLHF tokenizes each text with add_special_tokens=False and adds nothing in pretrain mode, so the
    special tokens are written into the text: a document is the tokenizer's BOS (where it adds one, as Llama 3
    does), the document, then EOS, the TRL backend's row plus that BOS; a chat conversation is the tokenizer's
    chat template over all its messages. Pretrain mode has one loss mask for every row, so unlike the TRL
    backend the loss covers the user turns of chat rows too. Chat rows are drawn as rl.sft.build_rows draws
    them: `chat_fraction` of all rows (every conversation once on average when 0), sampled with replacement.
    """
    bos = tokenizer.bos_token if _adds_bos(tokenizer) else ""
    eos = tokenizer.eos_token or ""
    rows = [bos + t + eos for t in texts]
    n_docs = len(rows)
    n_chat = 0
    if conversations:
        n_chat = round(chat_fraction / (1 - chat_fraction) * n_docs) if chat_fraction else len(conversations)
        rng = random.Random(seed)
        picked = [conversations[rng.randrange(len(conversations))] for _ in range(n_chat)]
        rows += [tokenizer.apply_chat_template(m, tokenize=False) for m in picked]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp"
    with tmp.open("w", encoding="utf-8") as f:
        for text in rows:
            f.write(json.dumps({INPUT_KEY: text}, ensure_ascii=False) + "\n")
    tmp.replace(out)
    return SftDataset(out, len(rows), n_docs, n_chat)


def _adds_bos(tokenizer: Any) -> bool:
    bos = tokenizer.bos_token_id
    return bos is not None and tokenizer("a")["input_ids"][:1] == [bos]


def optimizer_steps(cfg: RunConfig, rows: int) -> int:
    """Optimizer steps OpenRLHF's SFT trainer takes over `rows` rows (its dataloader drops the last partial
    micro-batch round; train_sft.py's max_steps)."""
    sft = cfg.sft
    assert sft is not None
    o = sft.openrlhf
    micro_rounds = rows // (o.micro_train_batch_size * o.num_gpus)
    accumulation = o.train_batch_size // (o.micro_train_batch_size * o.num_gpus)
    return micro_rounds * int(sft.epochs) // accumulation


def build_sft_args(cfg: RunConfig, *, model: str, dataset: Path, n_rows: int, work: Path,
                   wandb_enabled: bool) -> list[str]:
    """`openrlhf.cli.train_sft` arguments (OpenRLHF 0.11 dotted names) for the run's sft section.

    Resumes from the newest DeepSpeed checkpoint under `work/ckpt` (--ckpt.load_enable); saves the result
    (the LoRA adapter, or the whole model without sft.lora) to `work/model`.
    """
    sft = cfg.sft
    assert sft is not None
    o = sft.openrlhf
    args = [
        "--model.model_name_or_path", model,
        "--model.pretrain_mode_enable",  # plain next-token loss on every token of each row
        "--data.dataset", str(dataset),
        "--data.input_key", INPUT_KEY,
        "--data.max_len", str(sft.max_length),
        "--data.max_samples", str(max(1, n_rows)),
        "--train.max_epochs", str(int(sft.epochs)),
        "--train.micro_batch_size", str(o.micro_train_batch_size),
        "--train.batch_size", str(o.train_batch_size),
        "--train.seed", str(sft.seed),
        "--adam.lr", str(sft.learning_rate),
        "--lr_scheduler", "cosine",  # linear warm-up, cosine decay to 0, as the TRL backend
        "--lr_warmup_ratio", str(sft.warmup_ratio),
        "--ds.zero_stage", str(o.zero_stage),
        "--ds.param_dtype", o.param_dtype,
        "--ds.attn_implementation", o.attn_implementation,
        "--ckpt.output_dir", str(work / "model"),
        "--ckpt.path", str(work / "ckpt"),
        "--ckpt.save_steps", str(sft.save_every),
        "--ckpt.max_num", str(o.keep_checkpoints),
        "--ckpt.load_enable",
        "--logger.logging_steps", "1",
        "--logger.tensorboard_dir", str(work / "tensorboard"),  # used when W&B is off
    ]
    if sft.gradient_checkpointing:
        args.append("--model.gradient_checkpointing_enable")
    if o.packing:
        args.append("--ds.packing_samples")
    if o.adam_offload:
        args.append("--ds.adam_offload")
    args += lora_args(sft.lora)
    if wandb_enabled:
        w = cfg.rl.wandb
        args += ["--logger.wandb.key", WANDB_KEY_PLACEHOLDER, "--logger.wandb.project", w.project,
                 "--logger.wandb.run_name", f"{cfg.rl.run_name}-sft", "--logger.wandb.group", cfg.rl.run_name]
        if w.entity:
            args += ["--logger.wandb.org", w.entity]
    return args + list(o.extra_args)


def launch_command(cfg: RunConfig, args: Sequence[str], *, visible_devices: str | None = None,
                   master_port: int = 29500) -> list[str]:
    """`deepspeed ... --module openrlhf.cli.train_sft ARGS`, through the launcher's module (no reliance on the
    `deepspeed` script being on PATH).

    DeepSpeed's launcher ignores CUDA_VISIBLE_DEVICES when given --num_gpus and takes GPUs 0..N-1 of the node,
    so inside a Ray task, which sets it to the GPUs Ray granted, those are named with --include instead.
    """
    assert cfg.sft is not None
    gpus = ["--include", f"localhost:{visible_devices}"] if visible_devices else \
        ["--num_gpus", str(cfg.sft.openrlhf.num_gpus)]
    return [sys.executable, "-m", "deepspeed.launcher.runner", *gpus, "--master_port", str(master_port),
            "--module", TRAIN_SFT_MODULE, *args]


def check_sft_args(args: Sequence[str], source: Path | None = None) -> str:
    """Every flag must exist in OpenRLHF's train_sft; returns the installed version (common.check_cli_args)."""
    return check_cli_args(TRAIN_SFT.stem, args, "sft.backend", source)


def prepare_sft(cfg: RunConfig, run_dir: Path, model_path: str, *, log: Callable[[str], None],
                source: Path | None = None, visible_devices: str | None = None) -> list[str]:
    """The documents and the dataset (written once: a restart reuses them, as DeepSpeed's resume needs), then
    the command, written to command.txt and checked. Returns the command.

    Raises:
        SftDataError: unusable documents or chat data.
        OpenRlhfError: a flag the installed OpenRLHF lacks (command.txt still shows the command).
    """
    from rl.models import load_tokenizer
    from rl.sft import prepare_docs, read_chat_data
    from rl.wandb_log import resolve_wandb_mode

    sft = cfg.sft
    assert sft is not None
    work = work_dir(run_dir)
    path = work / DATASET_FILE
    if path.is_file():
        with path.open("rb") as f:
            rows = sum(1 for _ in f)
    else:
        from env.docs import read_docs

        docs_path = prepare_docs(sft, run_dir, log)
        conversations = read_chat_data(sft.chat_data) if sft.chat_data else []
        data = write_sft_dataset(path, [d.text for d in read_docs(docs_path)], load_tokenizer(model_path),
                                 conversations=conversations, chat_fraction=sft.chat_fraction, seed=sft.seed)
        rows = data.rows
        log(f"sft: OpenRLHF dataset {path}: {data.rows} rows ({data.docs} documents, {data.chat} chat)")
    args = build_sft_args(cfg, model=model_path, dataset=path, n_rows=rows, work=work,
                          wandb_enabled=resolve_wandb_mode(cfg.rl.wandb) != "disabled")
    command = launch_command(cfg, args, visible_devices=visible_devices, master_port=_free_port())
    (work / "command.txt").write_text(" ".join(command) + "\n", encoding="utf-8")
    version = check_sft_args(args, source)
    log(f"sft: OpenRLHF {version}, {rows} rows, {optimizer_steps(cfg, rows)} optimizer steps on "
        f"{sft.openrlhf.num_gpus} GPUs")
    return command


def _free_port() -> int:
    """A free TCP port for torch.distributed's rendezvous (another job on the node may hold 29500)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def train_sft_here(cfg: RunConfig, run_dir: Path, model_path: str, *, log: Callable[[str], None],
                   openrlhf_source: Path | None = None) -> str:
    """Run the stage on this node's GPUs (CUDA_VISIBLE_DEVICES when set) and return `<run>/sft/final`.

    A finished stage returns at once; one whose training finished merges only; otherwise OpenRLHF runs,
    resuming from its newest DeepSpeed checkpoint.

    Raises:
        SftDataError, OpenRlhfError: before launch (see prepare_sft).
        RuntimeError: OpenRLHF exited with an error (its log named).
    """
    from rl.wandb_log import resolve_wandb_mode

    run_dir = Path(run_dir)
    if (done := already_done(run_dir, log)) is not None:
        return done
    final = final_dir(run_dir)
    t0 = time.time()
    work = work_dir(run_dir)
    trained = work / "model"
    if not (trained / TRAINED).is_file():
        work.mkdir(parents=True, exist_ok=True)
        command = prepare_sft(cfg, run_dir, model_path, log=log, source=openrlhf_source,
                              visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES") or None)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        env["WANDB_MODE"] = resolve_wandb_mode(cfg.rl.wandb)
        env["WANDB_DIR"] = str(work)
        log(f"sft: OpenRLHF's SFT trainer started; its log: {work / LOG_FILE}")
        with (work / LOG_FILE).open("a", encoding="utf-8") as out:
            rc = subprocess.run(command, env=env, stdout=out, stderr=subprocess.STDOUT, check=False).returncode
        if rc != 0:
            raise RuntimeError(f"OpenRLHF's SFT trainer exited with code {rc}; its log: {work / LOG_FILE}")
        (trained / TRAINED).write_text(json.dumps({"seconds": round(time.time() - t0, 1)}) + "\n", encoding="utf-8")
    with (work / DATASET_FILE).open("rb") as f:
        rows = sum(1 for _ in f)
    info = {"steps": optimizer_steps(cfg, rows), "rows": rows, "docs": str(run_dir / DOCS_DIR / DOCS_FILE),
            "seconds": round(time.time() - t0, 1), "from": model_path, "backend": "openrlhf"}
    merge_into_final(trained, model_path, final, dtype=cfg.rl.model.dtype, info=info)
    log(f"sft: OpenRLHF's fine-tune merged into {final} ({time.time() - t0:.1f}s)")
    return str(final)


def merge_into_final(trained: Path, base: str, final: Path, *, dtype: str, info: dict[str, Any]) -> None:
    """Save OpenRLHF's result as a plain HF model in `final`, marked complete as rl.sft marks it.

    `trained` holds what OpenRLHF's `save_model` wrote: with LoRA, a PEFT adapter (adapter_config.json and
    adapter_model.safetensors, or under ZeRO-3 adapter_model.bin gathered from the shards), merged here into
    `base` with PEFT's merge_and_unload; without LoRA, the whole model, saved again. The merge runs on CPU in
    the training dtype (`dtype` as rl.model.dtype: auto is bf16), so it needs the bf16 weights' size in memory.
    """
    from transformers import AutoModelForCausalLM

    from rl.models import load_tokenizer, torch_dtype
    from rl.sft import save_final

    torch_type = torch_dtype(dtype, "cuda")  # the training dtype, not the CPU's float32 default
    if (trained / "adapter_config.json").is_file():
        from peft import PeftModel

        model = AutoModelForCausalLM.from_pretrained(base, dtype=torch_type, low_cpu_mem_usage=True)
        model = PeftModel.from_pretrained(model, str(trained)).merge_and_unload()
    else:
        model = AutoModelForCausalLM.from_pretrained(str(trained), dtype=torch_type, low_cpu_mem_usage=True)
    model.eval()
    save_final(model, load_tokenizer(base), final, info)


def check_sft_node(cfg: RunConfig) -> None:
    """Some alive node of the Ray cluster must have sft.openrlhf.num_gpus GPUs (else the task would wait for
    ever). Raises OpenRlhfError naming the largest node."""
    import ray

    assert cfg.sft is not None
    need = cfg.sft.openrlhf.num_gpus
    largest = max((n.get("Resources", {}).get("GPU", 0.0) for n in ray.nodes() if n.get("Alive")), default=0.0)
    if largest < need:
        raise OpenRlhfError(f"sft.openrlhf.num_gpus is {need} (GPUs of one node) but the Ray cluster's largest node "
                            f"has {largest:g}")


def run_sft_task(cfg: RunConfig, run_dir: Path, model_path: str, *, log: Callable[[str], None],
                 openrlhf_source: Path | None = None) -> str:
    """The stage from the driver: the documents, the dataset and the flags are checked here, then
    `train_sft_here` runs as one Ray task holding sft.openrlhf.num_gpus GPUs of one node. Returns
    `<run>/sft/final` (at once when the stage is done).

    Raises:
        OpenRlhfError: before anything is placed, when a check fails (rl/train.py exits 2).
        RuntimeError: the task failed.
    """
    import ray

    from rl.sft import SftDataError

    run_dir = Path(run_dir)
    if (done := already_done(run_dir, log)) is not None:
        return done
    assert cfg.sft is not None
    check_sft_node(cfg)
    if not (work_dir(run_dir) / "model" / TRAINED).is_file():
        work_dir(run_dir).mkdir(parents=True, exist_ok=True)
        try:
            prepare_sft(cfg, run_dir, model_path, log=log, source=openrlhf_source)
        except SftDataError as e:
            raise OpenRlhfError(str(e)) from None
    task = ray.remote(_sft_task).options(
        num_gpus=cfg.sft.openrlhf.num_gpus, num_cpus=cfg.rl.ray.num_cpus, max_retries=0,
        runtime_env={"env_vars": {"PYTHONPATH": str(REPO_ROOT)}})
    try:
        return ray.get(task.remote(cfg.model_dump(mode="json"), str(run_dir), model_path))
    except Exception as e:  # Ray wraps the task's exception: report its own
        cause = getattr(e, "cause", None) or e
        raise RuntimeError(f"the sft stage failed: {type(cause).__name__}: {cause}") from None


def _sft_task(cfg_data: dict[str, Any], run_dir: str, model_path: str) -> str:
    """The Ray task of `run_sft_task` (module level, so Ray workers import it)."""
    from rl.config import RunConfig

    def log(msg: str) -> None:
        print(f"[af-rl {time.strftime('%H:%M:%S')}] {msg}", flush=True)

    return train_sft_here(RunConfig.model_validate(cfg_data), Path(run_dir), model_path, log=log)


def sft_only_result(run_dir: Path) -> dict[str, Any]:
    """Where a `stages: [sft]` run's results are, in the shape rl/train.py prints."""
    work = work_dir(run_dir)
    return {"run_dir": str(run_dir), "metrics": str(work / LOG_FILE), "plots": [],
            "checkpoints": [str(final_dir(run_dir))], "samples": "(none: no evaluation in an OpenRLHF sft-only run)",
            "wandb": f"{work} (OpenRLHF's run <run_name>-sft, or tensorboard/)", "eval_errors": []}
