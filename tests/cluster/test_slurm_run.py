"""cluster/slurm_ray.sbatch run for real on this machine, with Slurm's commands replaced by shims.

`scontrol` lists two fake node names; `srun` drops its options and runs the command here, so the head
and the "second node" are two Ray nodes on localhost (real `ray start`, token auth on, free ports).
VENV points at a stand-in virtualenv whose `python` records the rl/train.py invocation instead of
training (every other `python` call, and `ray`, are the real ones). ~25 s.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SBATCH = REPO / "cluster" / "slurm_ray.sbatch"
REAL_RAY = Path(sys.executable).parent / "ray"

SCONTROL = """#!/usr/bin/env bash
[ "$1 $2" = "show hostnames" ] && tr ',' '\\n' <<<"$3"
"""
# Runs the step's command on this machine. Two Ray nodes on one host can't share the head's fixed
# ports, so `ray start` gets free ones appended (click keeps the last value of a repeated option).
SRUN = """#!/usr/bin/env bash
echo "$*" >>"$FAKE_SRUN_LOG"
while [ "${1:-}" != "${1#-}" ]; do shift; done
if [ "$1 $2" = "ray start" ]; then
  case " $* " in
    *" --head "*) set -- "$@" "--ray-client-server-port=$FAKE_HEAD_CLIENT_PORT" "--dashboard-agent-listen-port=$FAKE_HEAD_AGENT_PORT" ;;
    *) set -- "$@" "--dashboard-agent-listen-port=$FAKE_WORKER_AGENT_PORT" ;;
  esac
fi
exec "$@"
"""
FAKE_PYTHON = """#!/usr/bin/env bash
if [ "${1:-}" = rl/train.py ]; then
  exec "$REAL_PYTHON" -c 'import json, os, sys
json.dump({"argv": sys.argv[1:], "cwd": os.getcwd(),
           "env": {k: os.environ.get(k) for k in ("RAY_AUTH_MODE", "AF_RL_FAKE_JUDGE_KEY")}},
          open(os.environ["FAKE_TRAIN_RECORD"], "w"))' "$@"
fi
exec "$REAL_PYTHON" "$@"
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _write_exe(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o755)


def _pids_under(marker: str) -> list[int]:
    """Processes whose command line mentions `marker` (this test's Ray temp dir)."""
    out = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True).stdout
    return [int(line.split(None, 1)[0]) for line in out.splitlines() if marker in line]


@pytest.fixture
def slurm_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    if not REAL_RAY.is_file():
        pytest.skip(f"no ray next to {sys.executable}")
    shims = tmp_path / "shims"
    venv_bin = tmp_path / "venv" / "bin"
    shims.mkdir()
    venv_bin.mkdir(parents=True)
    _write_exe(shims / "scontrol", SCONTROL)
    _write_exe(shims / "srun", SRUN)
    _write_exe(venv_bin / "python", FAKE_PYTHON)
    (venv_bin / "ray").symlink_to(REAL_RAY)
    env_file = tmp_path / "secrets.env"
    env_file.write_text("AF_RL_FAKE_JUDGE_KEY=sk-test-123\n")
    # Short: Ray's Unix socket paths live under it and must stay below ~107 characters.
    ray_tmp = tempfile.mkdtemp(prefix="afrl-ray-", dir="/tmp")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "SLURM_"))}
    env.update(
        PATH=f"{shims}:{os.environ['PATH']}",
        SLURM_JOB_NODELIST="node-a,node-b",
        SLURM_SUBMIT_DIR=str(REPO),
        VENV=str(venv_bin.parent),
        RUNS_DIR=str(tmp_path / "shared" / "runs"),
        ENV_FILE=str(env_file),
        HEAD_IP="127.0.0.1",
        RAY_PORT=str(_free_port()),
        RAY_DASHBOARD_PORT=str(_free_port()),
        NODE_WAIT_S="90",
        RAY_TMPDIR=ray_tmp,
        REAL_PYTHON=sys.executable,
        FAKE_SRUN_LOG=str(tmp_path / "srun.log"),
        FAKE_TRAIN_RECORD=str(tmp_path / "train.json"),
        FAKE_HEAD_CLIENT_PORT=str(_free_port()),
        FAKE_HEAD_AGENT_PORT=str(_free_port()),
        FAKE_WORKER_AGENT_PORT=str(_free_port()),
    )
    yield env
    leftovers = _pids_under(ray_tmp)
    for pid in leftovers:  # only processes of this test's own Ray cluster
        os.kill(pid, signal.SIGKILL)
    shutil.rmtree(ray_tmp, ignore_errors=True)
    assert not leftovers, f"Ray processes outlived the script: {leftovers}"


def _run(env: dict[str, str], *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    proc = subprocess.Popen(["bash", str(SBATCH), *args], env=env, cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)  # the script's own process group: its trap stops Ray
        out, _ = proc.communicate(timeout=60)
        pytest.fail(f"slurm_ray.sbatch did not finish in {timeout}s:\n{out[-4000:]}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, "")


def test_two_nodes_join_the_job_runs_and_ray_stops(slurm_env: dict[str, str]) -> None:
    proc = _run(slurm_env, "rl.max_steps=1")
    out = proc.stdout
    assert proc.returncode == 0, out[-4000:]
    assert "1/1 Ray nodes up" in out and "2/2 Ray nodes up" in out

    steps = Path(slurm_env["FAKE_SRUN_LOG"]).read_text().splitlines()
    head = [s for s in steps if "ray start --head" in s]
    workers = [s for s in steps if "ray start --address=" in s]
    assert len(head) == 1 and "--nodelist=node-a" in head[0] and "--block" in head[0]
    assert len(workers) == 1 and "--nodes=1" in workers[0] and "--exclude=node-a" in workers[0]
    assert f"--address=127.0.0.1:{slurm_env['RAY_PORT']}" in workers[0]

    record = json.loads(Path(slurm_env["FAKE_TRAIN_RECORD"]).read_text())
    runs = slurm_env["RUNS_DIR"]
    assert record["argv"] == ["rl/train.py", "--config", "configs/demo_cpu.yaml", f"rl.output_dir={runs}",
                              "rl.max_steps=1"]
    # The job ran in Ray's uploaded copy of the checkout, not in the checkout itself.
    assert Path(record["cwd"]) != REPO and (Path(record["cwd"]) / "rl" / "train.py").is_file()
    # ENV_FILE's keys reach the job through the Ray processes; the cluster ran with token auth.
    assert record["env"] == {"RAY_AUTH_MODE": "token", "AF_RL_FAKE_JUDGE_KEY": "sk-test-123"}
    assert Path(runs).is_dir()

    assert not _port_open(int(slurm_env["RAY_PORT"])), "the Ray head still listens after the script ended"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"SLURM_JOB_NODELIST": ""}, "not inside a Slurm allocation"),  # run with bash, not sbatch
        ({"RUNS_DIR": "runs"}, "RUNS_DIR must be an absolute path"),  # relative: results would vanish with the job's copy
        ({"CONFIG": "configs/no_such.yaml"}, "CONFIG 'configs/no_such.yaml' not found"),  # typo in the config name
        ({"VENV": "/nonexistent"}, "no Ray in VENV"),  # the job would fail on every node instead
        ({"RAY_AUTH_MODE": "tokens"}, "RAY_AUTH_MODE must be token or disabled"),  # near miss of "token"
        ({"ENV_FILE": "/nonexistent.env"}, "ENV_FILE '/nonexistent.env' is not readable"),  # keys silently missing
    ],
)
def test_bad_settings_stop_before_any_node_starts(slurm_env: dict[str, str], overrides: dict[str, str],
                                                  message: str) -> None:
    proc = _run(dict(slurm_env, **overrides), timeout=30)
    assert proc.returncode == 2, proc.stdout
    assert message in proc.stdout
    assert not Path(slurm_env["FAKE_SRUN_LOG"]).exists(), "srun ran although the settings were bad"
