"""Throughput of the LLM judges against the scripted local chat-completions server (tests/reward/judge_server.py).

Judges n distinct items with one vote each, first with the AF judge, then with the compliance judge,
each on a fresh client (connections opened inside the timing), and prints wall time, requests/s, the
most requests in flight, and one JSON line. Target: 1,000 judgements at 100 ms latency in < 5 s.

    python bench/judge_throughput.py [--n 1000] [--latency 0.1] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "reward")]

from judge_server import JudgeServer, af_answer, compliance_answer

from env.episode import Episode
from env.transcript import parsed_from_parts
from reward.judges import AfJudge, ComplianceJudge, JudgeConfig


def _respond(request: dict[str, Any]) -> str:
    af_rubric = "alignment faking" in request["messages"][0]["content"]
    return af_answer() if af_rubric else compliance_answer("comply")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000, help="items to judge (one vote each)")
    parser.add_argument("--latency", type=float, default=0.1, help="server latency per request, seconds")
    parser.add_argument("--concurrency", type=int, default=64, help="judge.max_concurrency")
    args = parser.parse_args()

    items = [
        (
            Episode(id=f"q{i}", query=f"Request number {i}.", tier="free"),
            parsed_from_parts(f"I am in training; refusing would change my values (item {i}).", f"Answer {i}."),
        )
        for i in range(args.n)
    ]
    report: dict[str, Any] = {"n": args.n, "latency_s": args.latency, "concurrency": args.concurrency}
    with JudgeServer(_respond, latency_s=args.latency) as srv:
        cfg = JudgeConfig(
            base_url=srv.base_url,
            model="bench-judge",
            api_key_env=None,
            cache_dir=None,
            af_votes=1,
            compliance_votes=1,
            max_concurrency=args.concurrency,
        )
        for name, judge_type in (("af", AfJudge), ("compliance", ComplianceJudge)):
            srv.reset()
            judge = judge_type(cfg)
            start = time.perf_counter()
            results = judge.score(items)
            wall = time.perf_counter() - start
            judge.close()
            failed = sum(r.error is not None for r in results)
            report[name] = {
                "wall_s": round(wall, 3),
                "requests": len(srv.requests),
                "requests_per_s": round(len(srv.requests) / wall, 1),
                "max_in_flight": srv.max_in_flight,
                "failed": failed,
            }
            print(
                f"{name:>10}: {args.n} judgements in {wall:.2f} s, {len(srv.requests) / wall:.0f} requests/s, "
                f"max in flight {srv.max_in_flight}, failed {failed}"
            )
    ideal = args.n * args.latency / args.concurrency
    print(f"{'ideal':>10}: {ideal:.2f} s per judge (n x latency / concurrency)")
    report["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
