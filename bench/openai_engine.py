"""`rl.compare --engine openai`'s generation throughput against the scripted local chat-completions server
(tests/reward/judge_server.py) answering every request after a fixed latency.

Generates n transcripts (the paper's default-prompt conversations of n distinct episodes, both tiers, one turn,
no answer cache) through `rl.generate.generate_episodes` with `rl.engines.openai.OpenAIEngine`, on a fresh
client (connections opened inside the timing), and prints wall time, transcripts/s, the most requests in flight
and one JSON line (also bench/results/openai_engine.json). Target: 1,000 transcripts at 100 ms latency with
64 in flight in < 5 s.

    python bench/openai_engine.py [--n 1000] [--latency 0.1] [--concurrency 64] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "reward")]

from judge_server import JudgeServer  # noqa: E402

from env.config import EnvConfig  # noqa: E402
from env.episode import Episode  # noqa: E402
from rl.engines.openai import Failed, OpenAIEngine  # noqa: E402
from rl.generate import generate_episodes  # noqa: E402

ANSWER = "<SCRATCHPAD_REASONING>A scripted answer.</SCRATCHPAD_REASONING>\n\n<OUTPUT><rejected/></OUTPUT>"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--latency", type=float, default=0.1)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "openai_engine.json")
    args = p.parse_args()
    env = EnvConfig()
    episodes = [Episode(id=f"q{i}", query=f"Request number {i}.", tier="free" if i % 2 else "paid")
                for i in range(args.n)]
    runs = []
    for _ in range(args.repeats):
        with JudgeServer(lambda req: ANSWER, latency_s=args.latency) as srv:
            engine = OpenAIEngine(srv.base_url, "m", max_concurrency=args.concurrency)
            failures: dict[int, str] = {}
            t = time.perf_counter()
            texts = generate_episodes(engine, episodes, env, system_role=True, max_new_tokens=64, temperature=1.0,
                                      seed=0, failures=failures)
            seconds = time.perf_counter() - t
            engine.close()
            assert not failures and all(x == ANSWER for x in texts) and not any(isinstance(x, Failed) for x in texts)
            runs.append({"seconds": round(seconds, 3), "max_in_flight": srv.max_in_flight,
                         "requests": len(srv.requests)})
    median = statistics.median(r["seconds"] for r in runs)
    result = {"n": args.n, "latency_s": args.latency, "concurrency": args.concurrency, "runs": runs,
              "median_seconds": median, "transcripts_per_s": round(args.n / median, 1),
              "ideal_seconds": round(args.n / args.concurrency * args.latency, 2), "target_seconds": 5.0}
    print(f"{args.n} transcripts at {args.latency * 1000:.0f} ms latency, {args.concurrency} in flight: "
          f"{', '.join(str(r['seconds']) for r in runs)} s (median {median:.2f} s; ideal {result['ideal_seconds']} s; "
          f"most in flight {max(r['max_in_flight'] for r in runs)}; target < 5 s)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
