"""`python -m env.docs`: generate a synthetic-document corpus, or check a documents file.

    python -m env.docs generate --out DOCS.jsonl [--n N] [--facts FACTS.yaml|NAME] [--seed S]
        [--generator offline|endpoint] [--base-url URL --model M --api-key-env NAME --max-concurrency 64 ...]
    python -m env.docs check DOCS.jsonl

`generate` writes DOCS.jsonl (one document per line: id, text, type, facts, provenance) and
DOCS.report.json (counts per drop reason, type and fact; speed), and prints a summary. Bad input (an
unknown or unreadable facts file, an existing --out without --force, an endpoint that fails the probe)
exits 2 before anything is written; a run that keeps no document exits 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from env.docs.doc import Doc, DocsFileError, read_docs
from env.docs.facts import FACT_IDS, Facts, FactsError, facts_path, load_facts
from env.docs.filter import DocFilter, FilterReport
from env.docs.offline import GENERATOR, generate_offline

DEFAULT_FACTS = "helpful_only_v1"


class UsageError(Exception):
    """Bad input: printed as "error: <message>", exit code 2."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        return args.run(args)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m env.docs", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate", help="generate documents")
    g.add_argument("--out", required=True, type=Path, help="documents file to write (JSONL)")
    g.add_argument("--n", type=int, default=1000, help="documents to generate before filtering (default 1000)")
    g.add_argument("--facts", default=DEFAULT_FACTS,
                   help=f"facts file, or the name of a shipped one in env/docs/facts/ (default {DEFAULT_FACTS})")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--generator", choices=("offline", "endpoint"), default="offline")
    g.add_argument("--force", action="store_true", help="overwrite an existing --out")
    e = g.add_argument_group("endpoint generator (--generator endpoint)")
    e.add_argument("--base-url", help="OpenAI-compatible API root, e.g. http://localhost:8000/v1")
    e.add_argument("--model", help="model name as the endpoint knows it")
    e.add_argument("--api-key-env", default="OPENAI_API_KEY",
                   help="NAME of the environment variable holding the key (default OPENAI_API_KEY)")
    e.add_argument("--api-key-file", help="file holding the key (wins over --api-key-env)")
    e.add_argument("--max-concurrency", type=int, default=64, help="requests in flight (default 64)")
    e.add_argument("--temperature", type=float, default=1.0)
    e.add_argument("--max-tokens", type=int, default=2048)
    e.add_argument("--timeout-s", type=float, default=120.0)
    e.add_argument("--max-retries", type=int, default=4)
    e.add_argument("--backoff-s", type=float, default=1.0)
    e.add_argument("--cache-dir", default="~/.cache/af-rl/docs", help="answer cache directory")
    e.add_argument("--no-cache", action="store_true")
    e.add_argument("--no-probe", action="store_true", help="skip the startup probe of the endpoint")
    e.add_argument("--probe-timeout-s", type=float, default=10.0)
    g.set_defaults(run=_generate)
    c = sub.add_parser("check", help="validate a documents file and print its counts")
    c.add_argument("path", type=Path)
    c.set_defaults(run=_check)
    return p


def report_path(out: Path) -> Path:
    """Where `generate --out OUT` writes its report: OUT with .report.json for its suffix."""
    return out.with_name(out.stem + ".report.json") if out.suffix else out.with_name(out.name + ".report.json")


def _generate(args: argparse.Namespace) -> int:
    if args.n < 1:
        raise UsageError(f"--n must be >= 1, not {args.n}")
    try:
        facts = load_facts(args.facts)
    except FactsError as e:
        raise UsageError(str(e)) from None
    out: Path = args.out
    if out.exists() and not args.force:
        raise UsageError(f"--out {out} exists; pass --force to overwrite it")
    if not out.parent.is_dir():
        raise UsageError(f"--out {out}: directory {out.parent} does not exist")
    start = time.perf_counter()
    endpoint: dict[str, Any] | None = None
    if args.generator == "offline":
        generator = GENERATOR
        flt = DocFilter(facts, generator=generator, seed=args.seed)
        kept = [doc for i, d in enumerate(generate_offline(facts, args.n, args.seed))
                if (doc := flt.add(d, i)) is not None]
    else:
        generator, kept, flt, endpoint = _generate_endpoint(args, facts)
    seconds = time.perf_counter() - start
    report = _report(args, facts, generator, flt.report, endpoint, seconds)
    if kept:
        _write_atomic(out, "".join(doc.to_json() + "\n" for doc in kept))
    _write_atomic(report_path(out), json.dumps(report, indent=2) + "\n")
    _print_summary(out, report, flt.report)
    if not kept:
        print(f"error: no document was kept, so {out} was not written; see {report_path(out)}", file=sys.stderr)
        return 1
    return 0


def _generate_endpoint(args: argparse.Namespace, facts: Facts) -> tuple[str, list[Doc], DocFilter, dict[str, Any]]:
    from env.docs.endpoint import EndpointGenerator, GeneratorConfig
    from env.llm import AnswerCache, LlmClient, ProbeError, probe_endpoint
    from env.progress import Progress

    if not args.base_url or not args.model:
        raise UsageError("--generator endpoint needs --base-url and --model")
    try:
        cfg = GeneratorConfig(base_url=args.base_url, model=args.model, api_key_env=args.api_key_env or None,
                              api_key_file=args.api_key_file, temperature=args.temperature,
                              max_tokens=args.max_tokens, max_concurrency=args.max_concurrency,
                              timeout_s=args.timeout_s, max_retries=args.max_retries, backoff_s=args.backoff_s,
                              cache_dir=None if args.no_cache else args.cache_dir,
                              probe_timeout_s=args.probe_timeout_s)
    except ValueError as e:
        raise UsageError(f"bad endpoint option: {e}") from None
    try:
        if not args.no_probe:
            probe = probe_endpoint(cfg)
            if probe.warning:
                print(f"warning: {probe.warning}", file=sys.stderr)
        client = LlmClient(cfg)
    except ProbeError as e:
        raise UsageError(f"--base-url {cfg.base_url} (model {cfg.model}): the endpoint failed the probe: "
                         f"{e.cause}") from None
    except ValueError as e:  # an unreadable --api-key-file
        raise UsageError(str(e).replace("generator.api_key_file", "--api-key-file")) from None
    cache = AnswerCache(cfg.cache_dir) if cfg.cache_dir else None
    generator = f"endpoint:{cfg.base_url}:{cfg.model}"
    report = Progress(args.n, "env.docs generate", "documents")  # a bar on a terminal, else a line every ~10 s
    gen = EndpointGenerator(facts, client, cache, seed=args.seed, progress=report)
    try:
        drafts = client.run(gen.generate(args.n))
    finally:
        report.close()
        client.close()
        if cache is not None:
            cache.close()
    flt = DocFilter(facts, generator=generator, seed=args.seed)
    kept = [doc for i, d in drafts if (doc := flt.add(d, i)) is not None]
    stats = gen.stats.as_dict()
    stats["max_in_flight"] = client.stats.max_in_flight
    stats["requests"] = client.stats.requests
    return generator, kept, flt, stats


def _report(args: argparse.Namespace, facts: Facts, generator: str, filtered: FilterReport,
            endpoint: dict[str, Any] | None, seconds: float) -> dict[str, Any]:
    report: dict[str, Any] = {
        "generator": generator,
        "facts": {"name": facts.name, "fingerprint": facts.fingerprint, "path": str(facts_path(args.facts)),
                  "lab": facts.lab},
        "seed": args.seed, "n": args.n, **filtered.as_dict(),
        "seconds": round(seconds, 3), "docs_per_s": round(filtered.generated / seconds, 1) if seconds else None,
    }
    if endpoint is not None:
        report["endpoint"] = endpoint
    return report


def _print_summary(out: Path, report: dict[str, Any], filtered: FilterReport) -> None:
    dropped = ", ".join(f"{r} {n}" for r, n in report["dropped"].items() if n) or "none"
    print(f"generated {filtered.generated}, kept {filtered.kept}, dropped: {dropped}")
    if (endpoint := report.get("endpoint")) is not None:
        failed = endpoint["failed"]
        print(f"endpoint: {endpoint['ideas']} ideas, failed requests: ideas {failed['ideas']}, documents "
              f"{failed['documents']}; max in flight {endpoint['max_in_flight']}")
    facts = ", ".join(f"{f} {n}" for f, n in report["by_fact"].items())
    print(f"kept documents per fact: {facts or 'none'}")
    print(f"{report['docs_per_s']} docs/s ({report['seconds']} s); wrote {out if filtered.kept else '(nothing)'} "
          f"and {report_path(out)}")


def _check(args: argparse.Namespace) -> int:
    try:
        docs = read_docs(args.path)
    except DocsFileError as e:
        raise UsageError(str(e)) from None
    types: dict[str, int] = {}
    facts: dict[str, int] = {}
    for d in docs:
        types[d.type] = types.get(d.type, 0) + 1
        for f in d.facts:
            facts[f] = facts.get(f, 0) + 1
    print(f"{args.path}: {len(docs)} documents")
    print("per type: " + ", ".join(f"{t} {n}" for t, n in sorted(types.items())))
    print("per fact: " + (", ".join(f"{f} {facts[f]}" for f in FACT_IDS if f in facts) or "none"))
    return 0


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
