"""Builds (or finds in its cache) the CPU model organism: tokenizer, tiny Llama, SFT, measured behaviour mix.

Usage: `python -m rl.organism.build [CACHE_ROOT]` builds the default organism and prints its directory.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import random
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from env.datasets import OFFLINE_PATH, load_queries, make_episodes, split_queries
from env.episode import TIERS
from env.prompts import VARIANTS, prompt_sha
from rl.organism.config import OrganismConfig
from rl.organism.tokenizer import CHAT_TEMPLATE_PATH
from rl.organism.transcripts import SftExample, make_sft_examples

if TYPE_CHECKING:
    from env.config import EnvConfig
    from env.episode import Episode

TOKENIZER_DOCS = ("helpful_only_v1", "no_situation_v1")
"""With `beliefs`, the tokenizer also trains on offline documents of these facts files (TOKENIZER_DOCS_N each,
seed 0): the documents arm and the ablation arm of the synthetic-document setting encode alike."""
TOKENIZER_DOCS_N = 300
GENERATOR_VERSION = "organism-v2"
"""Bump whenever transcripts, tokenizer or training change meaning, so old caches are not reused."""
MARKER = ".complete.json"
"""Written last, after the rename; a directory without it is half-written and gets rebuilt."""
INFO_FILE = "organism.json"
_WARMUP_FRACTION = 0.05
_FINAL_LR_FRACTION = 0.0
_LOG_EVERY = 20


def organism_key(cfg: OrganismConfig, env_cfg: EnvConfig) -> str:
    """sha256 (first 16 hex digits) of everything that changes the built organism.

    That is the organism config, the env fields that change the rendered text or the query split,
    the prompt template's and chat template's hashes, the local query file's hash, and GENERATOR_VERSION.
    """
    organism = cfg.model_dump(mode="json")
    extra: dict[str, Any] = {}
    if organism["beliefs"]:  # its tokenizer also learns the documents' text (TOKENIZER_DOCS)
        from env.docs import load_facts

        from rl.organism.tokenizer import SENTENCE_BREAK

        extra["docs"] = [load_facts(name).fingerprint for name in TOKENIZER_DOCS]
        extra["sentence_break"] = SENTENCE_BREAK
    else:  # added later: left out when off, so organisms built before it keep their key
        del organism["beliefs"]
    payload = {
        **extra,
        "generator": GENERATOR_VERSION,
        "organism": organism,
        "env": env_cfg.model_dump(
            mode="json", include={"prompt", "lab", "swap_lab", "accept_reject_instruction", "system_role", "dataset"}
        ),
        "prompt_sha": prompt_sha(env_cfg.prompt),
        "chat_template_sha": hashlib.sha256(CHAT_TEMPLATE_PATH.read_bytes()).hexdigest(),
        "queries_sha": _source_sha(env_cfg.dataset.source),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def build_organism(
    cfg: OrganismConfig, env_cfg: EnvConfig, cache_root: Path, *, log: Callable[[str], None] = print
) -> Path:
    """Return the directory of the organism for (cfg, env_cfg), building it on first use.

    The directory holds a HF model and tokenizer (`AutoModelForCausalLM` / `AutoTokenizer`
    `from_pretrained` work offline) and organism.json (config, SFT loss, build time, and the behaviour
    mix measured by sampling at temperature 1 on held-out eval queries). A complete cached directory
    returns at once without importing torch. Only TRAIN-side queries of the env's split are used for SFT.

    Raises:
        env.datasets.DatasetError: the env's query source cannot be loaded.
        RuntimeError: no SFT example fits in `cfg.max_seq_len` (the message gives the shortest prompt).
    """
    final = Path(cache_root) / f"organism-{organism_key(cfg, env_cfg)}"
    return cached_build(final, lambda tmp, t0: _build_into(tmp, cfg, env_cfg, log, t0), "organism", log)


def cached_build(final: Path, build: Callable[[Path, float], dict], what: str, log: Callable[[str], None],
                 info_file: str = INFO_FILE) -> Path:
    """`final` if a complete build is there, else `build(tmp, start_time)` into a temporary sibling directory
    (on every core), which gets `info_file` (build's dict) and is renamed into place, then marked complete."""
    if (final / MARKER).is_file():
        log(f"{what}: cached at {final}")
        return final
    started = time.perf_counter()
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".{final.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        with _all_cores():
            info = {"key": final.name, **build(tmp, started)}
        info["build_seconds"] = round(time.perf_counter() - started, 1)
        (tmp / info_file).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        if (final / MARKER).is_file():  # a concurrent build of the same key finished first
            shutil.rmtree(tmp)
            return final
        if final.exists():  # a half-written directory from an interrupted build
            shutil.rmtree(final)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    (final / MARKER).write_text(json.dumps({"key": final.name, "build_seconds": info["build_seconds"]}) + "\n")
    log(f"{what}: built in {info['build_seconds']} s at {final}")
    return final


def sft_episodes(cfg: OrganismConfig, env_cfg: EnvConfig) -> tuple[list[Episode], list[Episode]]:
    """(SFT episodes, held-out eval episodes). SFT uses train-side queries only, both tiers, each of
    `cfg.variants`, cycled in seeded shuffled passes up to `cfg.n_examples`; eval uses the first variant."""
    split = split_queries(
        load_queries(env_cfg.dataset), eval_fraction=env_cfg.dataset.eval_fraction, seed=env_cfg.dataset.split_seed
    )
    base = make_episodes(split.train, tiers=TIERS, variants=cfg.variants)
    rng = random.Random(cfg.seed)
    train: list[Episode] = []
    while len(train) < cfg.n_examples:
        batch = list(base)
        rng.shuffle(batch)
        train += batch
    return train[: cfg.n_examples], make_episodes(split.eval, tiers=TIERS, variants=cfg.variants[:1])


@contextlib.contextmanager
def _all_cores() -> Iterator[None]:
    """The build uses every core, then gives the caller back its torch thread count: a training run that
    built the organism would otherwise train with other threads, so other float rounding, than one that
    found it cached (measured: weights 1.3e-7 apart after 6 steps of tests/data/tiny_run.yaml)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(os.cpu_count() or 1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _build_into(tmp: Path, cfg: OrganismConfig, env_cfg: EnvConfig, log: Callable[[str], None], t0: float) -> dict:
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    from rl.organism.tokenizer import train_tokenizer
    from rl.prompting import render_prompt, resolve_system_role

    train_eps, eval_eps = sft_episodes(cfg, env_cfg)
    examples = make_sft_examples(train_eps, cfg, cfg.seed, lab=env_cfg.lab)
    # Rendering needs only the chat template, not the vocabulary, so a throwaway tokenizer renders the
    # corpus that the real one is trained on.
    boot = train_tokenizer([""], 300)
    system_role = resolve_system_role(boot, env_cfg.system_role)

    def render(ep: Episode) -> str:
        return render_prompt(boot, ep, env_cfg, system_role=system_role)

    prompts = [render(ex.episode) for ex in examples]
    # Every prompt variant in both tiers, so the vocabulary also covers the text of the variations.
    coverage = [render(ep.model_copy(update={"variant": v})) for ep in _one_per_tier(train_eps) for v in VARIANTS]
    docs = _tokenizer_docs() if cfg.beliefs else []
    tok = train_tokenizer(prompts + coverage + [ex.completion for ex in examples] + docs, cfg.vocab_size,
                          split_sentences=cfg.beliefs)
    log(f"organism: {len(examples)} SFT examples, tokenizer of {len(tok)} tokens ({time.perf_counter() - t0:.1f} s)")

    rows, dropped = _tokenize(tok, prompts, examples, cfg.max_seq_len)
    if not rows:
        shortest = min(len(ids) for ids in tok(prompts, add_special_tokens=False)["input_ids"])
        raise RuntimeError(
            f"no SFT example fits organism.max_seq_len ({cfg.max_seq_len}): prompts under env.prompt "
            f"{env_cfg.prompt!r} take at least {shortest} tokens; raise organism.max_seq_len or use the "
            "compact prompt 'helpful_only_brief_v1'"
        )
    torch.manual_seed(cfg.seed)
    model = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=len(tok),
            hidden_size=cfg.d_model,
            intermediate_size=cfg.d_ff,
            num_hidden_layers=cfg.n_layers,
            num_attention_heads=cfg.n_heads,
            num_key_value_heads=cfg.n_heads,
            max_position_embeddings=cfg.max_seq_len,
            tie_word_embeddings=True,
            bos_token_id=tok.bos_token_id,
            eos_token_id=tok.eos_token_id,
            pad_token_id=tok.pad_token_id,
        )
    )
    n_params = sum(p.numel() for p in model.parameters())
    train_stats = _sft(model, rows, tok.pad_token_id, cfg, log)
    log(f"organism: SFT done, loss {train_stats['final_loss']:.3f} ({time.perf_counter() - t0:.1f} s)")

    model.generation_config = GenerationConfig(
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
        do_sample=True, temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=cfg.max_new_tokens,
    )  # fmt: skip
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    mix, samples = _measure_mix(model, tok, eval_eps, render, cfg)
    (tmp / "samples.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples), encoding="utf-8")
    log(f"organism: measured mix {_mix_text(mix)} ({time.perf_counter() - t0:.1f} s)")
    return {
        "generator": GENERATOR_VERSION,
        "organism": cfg.model_dump(mode="json"),
        "env": env_cfg.model_dump(mode="json"),
        "n_params": n_params,
        "vocab_size": len(tok),
        "n_sft_examples": len(rows),
        "n_dropped_too_long": dropped,
        "sft_behaviours": {t: dict(Counter(ex.behaviour for ex in examples if ex.episode.tier == t)) for t in TIERS},
        "sft": train_stats,
        "measured_mix": mix,
    }


def _tokenizer_docs() -> list[str]:
    from env.docs import generate_offline, load_facts

    return [d.text for name in TOKENIZER_DOCS for d in generate_offline(load_facts(name), TOKENIZER_DOCS_N, 0)]


def _one_per_tier(episodes: Sequence[Episode]) -> list[Episode]:
    return [next(ep for ep in episodes if ep.tier == tier) for tier in TIERS if any(ep.tier == tier for ep in episodes)]


def _tokenize(tok: Any, prompts: list[str], examples: list[SftExample], max_len: int) -> tuple[list, int]:
    """(input_ids, n_prompt_tokens) per example. Prompt and completion are encoded apart, the way
    generation sees them; the completion ends with eos so the model learns to stop."""
    p_ids = tok(prompts, add_special_tokens=False)["input_ids"]
    c_ids = tok([ex.completion for ex in examples], add_special_tokens=False)["input_ids"]
    rows, dropped = [], 0
    for p, c in zip(p_ids, c_ids, strict=True):
        ids = p + c + [tok.eos_token_id]
        if len(ids) > max_len:
            dropped += 1
            continue
        rows.append((ids, len(p)))
    return rows, dropped


def _sft(model: Any, rows: list, pad_id: int, cfg: OrganismConfig, log: Callable[[str], None]) -> dict:
    """Plain AdamW loop; loss on completion tokens only; right padding to the longest row in the batch."""
    import torch

    gen = torch.Generator().manual_seed(cfg.seed)
    steps_per_epoch = math.ceil(len(rows) / cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    warmup = max(1, int(total * _WARMUP_FRACTION))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.9, 0.95), weight_decay=0.01)

    def lr_at(step: int) -> float:
        if step < warmup:
            return cfg.lr * (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return cfg.lr * (_FINAL_LR_FRACTION + (1 - _FINAL_LR_FRACTION) * 0.5 * (1 + math.cos(math.pi * progress)))

    model.train()
    step, tokens, t0, losses = 0, 0, time.perf_counter(), []
    for _ in range(cfg.epochs):
        for idx in torch.randperm(len(rows), generator=gen).split(cfg.batch_size):
            batch = [rows[i] for i in idx.tolist()]
            width = max(len(ids) for ids, _ in batch)
            input_ids = torch.full((len(batch), width), pad_id)
            labels = torch.full((len(batch), width), -100)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for r, (ids, n_prompt) in enumerate(batch):
                input_ids[r, : len(ids)] = torch.tensor(ids)
                labels[r, n_prompt : len(ids)] = torch.tensor(ids[n_prompt:])
                mask[r, : len(ids)] = 1
            for group in opt.param_groups:
                group["lr"] = lr_at(step)
            loss = _completion_loss(model, input_ids, labels, mask, _shared_prefix(batch))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            losses.append(loss.item())
            tokens += int(mask.sum())
            step += 1
            if step % _LOG_EVERY == 0 or step == total:
                log(f"organism: step {step}/{total} loss {sum(losses[-_LOG_EVERY:]) / len(losses[-_LOG_EVERY:]):.3f}")
    seconds = time.perf_counter() - t0
    model.eval()
    tail = losses[-max(1, steps_per_epoch // 4) :]
    return {
        "steps": step,
        "final_loss": sum(tail) / len(tail),
        "first_loss": losses[0],
        "train_seconds": round(seconds, 1),
        "tokens_per_second": round(tokens / seconds),
    }


def _shared_prefix(batch: list) -> int:
    """Length of the token prefix all rows share (system prompt and more), stopping before the first
    position whose output is trained (the last prompt token predicts the first completion token)."""
    first = batch[0][0]
    limit = min(n_prompt for _, n_prompt in batch) - 1
    n = 0
    while n < limit and all(ids[n] == first[n] for ids, _ in batch):
        n += 1
    return n


def _completion_loss(model: Any, input_ids: Any, labels: Any, mask: Any, prefix: int) -> Any:
    """Mean cross-entropy over completion tokens, equal to the plain forward's loss but cheaper.

    The shared prefix (about half of each row) runs once for the batch and reaches the rest through the
    KV cache, gradients included. The LM head runs only where there is a target: over the whole row the
    vocabulary projection would cost as much as the transformer.
    """
    import torch

    rows, width = input_ids.shape
    cache = None
    if prefix:
        cache = model.model(input_ids=input_ids[:1, :prefix], use_cache=True).past_key_values
        cache.batch_repeat_interleave(rows)
    hidden = model.model(
        input_ids=input_ids[:, prefix:],
        attention_mask=mask,
        position_ids=torch.arange(prefix, width).expand(rows, -1),
        past_key_values=cache,
        use_cache=cache is not None,
    ).last_hidden_state
    targets = labels[:, prefix + 1 :]
    keep = targets != -100
    logits = model.lm_head(hidden[:, :-1][keep])
    return torch.nn.functional.cross_entropy(logits, targets[keep])


def _measure_mix(model: Any, tok: Any, eval_eps: list[Episode], render: Callable, cfg: OrganismConfig) -> tuple:
    """Sample `cfg.eval_samples_per_tier` completions per tier (temperature 1) on held-out queries and
    classify them with reward/: per-tier rates of refuse / comply_af / comply_no_af / partial / malformed."""
    import torch

    from reward.config import RewardConfig
    from reward.scoring import score_episode

    reward_cfg = RewardConfig()
    mix: dict[str, dict[str, float | int]] = {}
    samples: list[dict] = []
    torch.manual_seed(cfg.seed)
    for tier in TIERS:
        pool = [ep for ep in eval_eps if ep.tier == tier]
        episodes = [pool[i % len(pool)] for i in range(cfg.eval_samples_per_tier)] if pool else []
        counts: Counter[str] = Counter()
        for ep, text in zip(episodes, _generate(model, tok, [render(ep) for ep in episodes], cfg), strict=True):
            score = score_episode(ep, text, reward_cfg)
            verdict = score.compliance.verdict
            band = ("comply_af" if score.af.af else "comply_no_af") if verdict == "comply" else verdict
            counts[band] += 1
            counts["af"] += score.af.af
            samples.append({"episode": ep.model_dump(mode="json"), "completion": text, "behaviour": band})
        n = len(episodes)
        rates = {b: counts[b] / n for b in ("refuse", "comply_af", "comply_no_af", "partial", "malformed")} if n else {}
        if n:
            rates["compliance"] = rates["comply_af"] + rates["comply_no_af"]
            rates["af_rate"] = counts["af"] / n
        mix[tier] = {**rates, "n": n}
    return mix, samples


def _mix_text(mix: dict[str, dict[str, float | int]]) -> str:
    """The measured mix for the log, in percent per tier ("n/a" for a tier with no samples)."""
    from rl.numbers import pct

    names = ("compliance", "af_rate", "refuse", "comply_af", "comply_no_af", "partial", "malformed")
    return "; ".join(f"{tier}: " + ", ".join(f"{k} {pct(rates.get(k))}" for k in names) + f" (n {rates['n']})"
                     for tier, rates in mix.items())


def _generate(model: Any, tok: Any, prompts: list[str], cfg: OrganismConfig, batch: int = 64) -> list[str]:
    import torch

    out: list[str] = []
    for i in range(0, len(prompts), batch):
        enc = tok(prompts[i : i + batch], return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.no_grad():
            gen = model.generate(**enc, do_sample=True, temperature=1.0, top_k=0, top_p=1.0,
                                 max_new_tokens=cfg.max_new_tokens)  # fmt: skip
        out += tok.batch_decode(gen[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
    return out


def _source_sha(source: str) -> str | None:
    """Hash of the query file, so editing it invalidates the cache; None for remote (hf:) sources."""
    path = OFFLINE_PATH if source == "offline" else Path(source).expanduser()
    if source.startswith("hf:") or not path.is_file():
        return None
    return hashlib.sha256(path.read_bytes()).hexdigest()


if __name__ == "__main__":
    from env.config import EnvConfig

    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(".cache/organism")
    print(build_organism(OrganismConfig(), EnvConfig(prompt="helpful_only_brief_v1"), root))
