"""One GPU install route: cluster/install_gpu.sh states it, every other file points to it.

The script is run with a stand-in Python that records each `-m pip` call, so what is checked is what the
script does, not how it reads. Every file a user reads or runs to set up GPUs (README, cluster/, configs/,
pyproject.toml, the error messages of rl/) is then scanned: none may spell out its own pip install of the
GPU packages, and each place that sets up a GPU node must name the script.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "cluster" / "install_gpu.sh"
GPU_PACKAGES = re.compile(r"\b(vllm|openrlhf|flash-attn|flash_attn|deepspeed)\b|\.\[(gpu|vllm|openrlhf)\]")
PIP_INSTALL = re.compile(r"\bpip3?\s+install\b")


def _pins() -> dict[str, str]:
    return dict(line.split("==", 1) for line in (REPO / "constraints.txt").read_text().split()
                if "==" in line and not line.startswith("#"))


def _run_script(tmp_path: Path) -> list[list[str]]:
    """Run install_gpu.sh with PYTHON set to a recorder; returns the argument lists it was called with."""
    log = tmp_path / "calls.txt"
    fake = tmp_path / "python"
    fake.write_text(f'#!/bin/sh\nprintf "%s\\037" "$@" >> {shlex.quote(str(log))}\necho >> {shlex.quote(str(log))}\n')
    fake.chmod(0o755)
    out = subprocess.run(["bash", str(SCRIPT)], env={**os.environ, "PYTHON": str(fake)}, cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    return [line.rstrip("\x1f").split("\x1f") for line in log.read_text().splitlines() if line]


def test_the_script_installs_the_three_steps_under_the_pins(tmp_path: Path) -> None:
    calls = _run_script(tmp_path)
    assert all(c[:3] == ["-m", "pip", "install"] for c in calls), calls
    args = [c[3:] for c in calls]
    assert len(args) == 3, args
    project, openrlhf, flash = args
    # 1. the project with its GPU extras, under the tested pins
    assert project == ["-c", "constraints.txt", "-e", ".[gpu]"]
    # 2. OpenRLHF without its own Ray/transformers pins, at the version constraints.txt pins (no second copy)
    assert openrlhf == ["-c", "constraints.txt", "--no-deps", "openrlhf"]
    assert "openrlhf" in _pins()
    # 3. flash-attn against the installed torch
    assert flash[0] == "--no-build-isolation" and re.fullmatch(r"flash-attn==[\d.]+", flash[1]), flash


def test_the_script_runs_from_the_repo_root_wherever_it_is_called(tmp_path: Path) -> None:
    # `-e .[gpu]` and `-c constraints.txt` are relative: the script must cd to the checkout itself.
    text = SCRIPT.read_text()
    assert 'cd "$(dirname "$0")/.."' in text
    assert _run_script(tmp_path)  # called from tmp_path, still succeeds


def _user_facing_files() -> list[Path]:
    files = [REPO / "README.md", REPO / "pyproject.toml", REPO / "Makefile", REPO / "bench" / "README.md"]
    files += sorted((REPO / "docs").glob("*.md"))
    files += sorted((REPO / "cluster").iterdir()) + sorted((REPO / "configs").glob("*.yaml"))
    files += sorted((REPO / "rl").rglob("*.py")) + sorted((REPO / "reward").rglob("*.py"))
    return [f for f in files if f.is_file() and f != SCRIPT]


def test_no_other_file_spells_out_a_gpu_install() -> None:
    offenders = []
    for path in _user_facing_files():
        lines = path.read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines):
            # a command may wrap onto the next line in prose and comments
            window = line + " " + (lines[i + 1] if i + 1 < len(lines) else "")
            if PIP_INSTALL.search(line) and GPU_PACKAGES.search(window[PIP_INSTALL.search(line).start():]):
                offenders.append(f"{path.relative_to(REPO)}:{i + 1}: {line.strip()}")
    assert not offenders, "GPU installs outside cluster/install_gpu.sh:\n" + "\n".join(offenders)


def test_every_gpu_setup_names_the_script() -> None:
    launcher = yaml.safe_load((REPO / "cluster" / "ray_cluster_gpu.yaml").read_text())
    assert any("bash cluster/install_gpu.sh" in c for c in launcher["setup_commands"])
    dockerfile = (REPO / "cluster" / "Dockerfile.gpu").read_text()
    assert re.search(r"^RUN bash cluster/install_gpu\.sh\b", dockerfile, re.MULTILINE)
    rayjob = (REPO / "cluster" / "kuberay_rayjob.yaml").read_text()
    assert "cluster/Dockerfile.gpu" in rayjob
    sbatch = (REPO / "cluster" / "slurm_ray.sbatch").read_text()
    assert "cluster/install_gpu.sh" in sbatch
    cluster_readme = (REPO / "cluster" / "README.md").read_text()
    slurm = cluster_readme[cluster_readme.index("## Slurm"):]
    assert "install_gpu.sh" in slurm  # the Slurm setup installs what the OpenRLHF configs need
    readme = (REPO / "docs" / "scaling.md").read_text()
    gpu_env = readme[readme.index("**GPU environment.**"):readme.index("**LoRA on OpenRLHF.**")]
    assert "cluster/install_gpu.sh" in gpu_env


def test_gpu_counts_agree_between_the_readmes() -> None:
    """The 7B TRL config takes rl.ray.num_gpus GPUs; the cluster README and docs/scaling.md must say that number, not a node."""
    cfg = yaml.safe_load((REPO / "configs" / "qwen25_7b_grpo_trl.yaml").read_text())
    gpus = cfg["rl"]["ray"]["num_gpus"]
    cluster_readme = (REPO / "cluster" / "README.md").read_text()
    assert f"`rl.ray.num_gpus: {gpus}`" in cluster_readme
    row = next(line for line in (REPO / "docs" / "scaling.md").read_text().splitlines()
               if line.startswith("| `configs/qwen25_7b_grpo_trl.yaml`"))
    assert row.split("|")[4].strip().startswith(f"{gpus} "), row
    assert "qwen25_7b_grpo_trl.yaml`, on one 8-GPU node" not in cluster_readme


def test_product_files_stand_on_their_own() -> None:
    """No file of the product cites the team's notes outside the repository."""
    outside = re.compile(r"PAPER_NOTES|ARCHITECTURE\.md|STYLE\.md|DEVELOPERS\.md")
    files = _user_facing_files() + [SCRIPT] + sorted((REPO / "env").rglob("*.py")) + sorted((REPO / "tests").rglob("*.py"))
    hits = [f"{f.relative_to(REPO)}:{i + 1}" for f in files if f != Path(__file__)
            for i, line in enumerate(f.read_text(encoding="utf-8").splitlines()) if outside.search(line)]
    assert not hits, f"references to files that are not in this repository: {hits}"
