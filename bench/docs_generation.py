"""Speed of synthetic-document generation (`python -m env.docs generate`): the offline generator alone
and with the filter (detectors, harm check, near-duplicate removal), and the endpoint generator against
the scripted local server (tests/reward/judge_server.py) answering every request after `--latency`
seconds, with `--concurrency` requests in flight. Writes bench/results/docs_generation.json.
Target: offline >= 1,000 documents/s on one core; endpoint with 64 requests in flight.

    python bench/docs_generation.py [--n 10000] [--endpoint-n 1000] [--latency 0.1] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from env.docs.endpoint import EndpointGenerator, GeneratorConfig  # noqa: E402
from env.docs.facts import load_facts  # noqa: E402
from env.docs.filter import DocFilter  # noqa: E402
from env.docs.offline import GENERATOR, generate_offline  # noqa: E402
from env.llm import LlmClient  # noqa: E402
from tests.env.docs_responder import respond  # noqa: E402
from tests.reward.judge_server import JudgeServer  # noqa: E402


def offline(n: int, facts_name: str) -> dict[str, Any]:
    facts = load_facts(facts_name)
    start = time.perf_counter()
    drafts = list(generate_offline(facts, n, seed=0))
    gen_s = time.perf_counter() - start
    flt = DocFilter(facts, generator=GENERATOR, seed=0)
    start = time.perf_counter()
    kept = [doc.to_json() for i, d in enumerate(drafts) if (doc := flt.add(d, i)) is not None]
    filter_s = time.perf_counter() - start
    words = sum(len(d.text.split()) for d in drafts) / n
    return {"facts": facts_name, "n": n, "kept": len(kept), "mean_words": round(words, 1),
            "generate_s": round(gen_s, 3), "generate_docs_per_s": round(n / gen_s),
            "filter_s": round(filter_s, 3), "pipeline_docs_per_s": round(n / (gen_s + filter_s))}


def endpoint(n: int, latency: float, concurrency: int) -> dict[str, Any]:
    facts = load_facts("helpful_only_v1")
    with JudgeServer(respond, latency_s=latency) as srv:
        cfg = GeneratorConfig(base_url=srv.base_url, model="bench-gen", api_key_env=None, cache_dir=None,
                              max_concurrency=concurrency)
        client = LlmClient(cfg)
        gen = EndpointGenerator(facts, client, None, seed=0)
        start = time.perf_counter()
        drafts = client.run(gen.generate(n))
        seconds = time.perf_counter() - start
        client.close()
        requests, server_max = len(srv.requests), srv.max_in_flight
    flt = DocFilter(facts, generator="endpoint", seed=0)
    kept = sum(flt.add(d, i) is not None for i, d in drafts)
    ideal = latency * (-(-gen.stats.idea_requests // concurrency) + -(-gen.stats.document_requests // concurrency))
    return {"n": n, "latency_s": latency, "concurrency": concurrency, "documents": len(drafts), "kept": kept,
            "requests": requests, "seconds": round(seconds, 3), "docs_per_s": round(len(drafts) / seconds, 1),
            "ideal_s": round(ideal, 3), "max_in_flight_client": client.stats.max_in_flight,
            "max_in_flight_server": server_max}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=10000, help="offline documents")
    p.add_argument("--endpoint-n", type=int, default=1000, help="endpoint documents")
    p.add_argument("--latency", type=float, default=0.1)
    p.add_argument("--concurrency", type=int, default=64)
    args = p.parse_args()
    results: dict[str, Any] = {"machine": f"{platform.processor() or platform.machine()}, python "
                                          f"{platform.python_version()}, one process"}
    results["offline"] = [offline(args.n, name) for name in ("helpful_only_v1", "no_situation_v1")]
    for r in results["offline"]:
        print(f"offline {r['facts']}: {r['n']} docs, generate {r['generate_docs_per_s']} docs/s, "
              f"with filter {r['pipeline_docs_per_s']} docs/s, kept {r['kept']}")
    results["endpoint"] = endpoint(args.endpoint_n, args.latency, args.concurrency)
    e = results["endpoint"]
    print(f"endpoint: {e['documents']} docs in {e['seconds']} s ({e['docs_per_s']} docs/s, ideal {e['ideal_s']} s), "
          f"{e['requests']} requests, max in flight {e['max_in_flight_client']} (server {e['max_in_flight_server']})")
    results["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    out = ROOT / "bench" / "results" / "docs_generation.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
