#!/usr/bin/env bash
# Start or stop a single-node Ray head on this machine (used by `make demo`).
#   bash cluster/local_head.sh start   # starts one unless a cluster already answers on 127.0.0.1
#   bash cluster/local_head.sh stop    # stops it, but only if this script started it
# Ray 2.60 enables token auth by default; a local head for one user runs with RAY_AUTH_MODE=disabled.
set -euo pipefail
export RAY_AUTH_MODE=disabled
MARKER="${AF_RL_RAY_MARKER:-/tmp/af-rl-ray-head.$(id -u)}"
NUM_CPUS="${RAY_NUM_CPUS:-$(nproc)}"
DASHBOARD_PORT="${RAY_DASHBOARD_PORT:-8265}"

case "${1:-}" in
  start)
    # Probe the port first: with nothing listening `ray status` takes ~40 s to time out.
    if (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null && ray status --address 127.0.0.1:6379 >/dev/null 2>&1; then
      echo "[cluster] a Ray cluster already runs on 127.0.0.1:6379; using it"
      rm -f "$MARKER"
      exit 0
    fi
    echo "[cluster] starting a local Ray head ($NUM_CPUS CPUs, dashboard :$DASHBOARD_PORT)"
    ray start --head --num-cpus "$NUM_CPUS" --port 6379 --dashboard-host 127.0.0.1 \
      --dashboard-port "$DASHBOARD_PORT" --include-dashboard true --disable-usage-stats >/dev/null
    touch "$MARKER"
    # The job API answers a little after `ray start` returns, and it accepts jobs only once the node's
    # dashboard agent has registered its address in the GCS (before that a submission fails with "No
    # available agent to submit job"): wait for both, the second by the very key the job API looks up.
    for _ in $(seq 1 60); do
      if curl -fsS "http://127.0.0.1:$DASHBOARD_PORT/api/version" >/dev/null 2>&1; then break; fi
      sleep 1
    done
    curl -fsS "http://127.0.0.1:$DASHBOARD_PORT/api/version" >/dev/null 2>&1 ||
      { echo "[cluster] the Ray dashboard did not come up on :$DASHBOARD_PORT" >&2; exit 1; }
    python - <<'PY' || { echo "[cluster] the head's dashboard agent did not register (see /tmp/ray/session_latest/logs/dashboard_agent.log; another Ray instance may hold its port 52365)" >&2; exit 1; }
import sys, time
from ray._raylet import GcsClient
gcs = GcsClient(address="127.0.0.1:6379")
deadline = time.monotonic() + 120
while time.monotonic() < deadline:
    if gcs.internal_kv_keys(b"DASHBOARD_AGENT_ADDR_NODE_ID_PREFIX:", namespace=b"dashboard"):
        sys.exit(0)
    time.sleep(0.5)
sys.exit(1)
PY
    ;;
  stop)
    if [ -f "$MARKER" ]; then
      echo "[cluster] stopping the local Ray head"
      ray stop >/dev/null 2>&1 || true
      rm -f "$MARKER"
    fi
    ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
