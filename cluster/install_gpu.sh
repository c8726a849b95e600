#!/usr/bin/env bash
# The GPU environment of af-rl: the one install route for GPU nodes, whatever starts Ray there (the Ray
# cluster launcher's setup_commands, cluster/Dockerfile.gpu for KubeRay, a Slurm venv, a single GPU box).
# Every other file points here instead of repeating these commands.
#
#   bash cluster/install_gpu.sh                         # into the Python on PATH
#   PYTHON=.venv/bin/python bash cluster/install_gpu.sh # into a virtualenv
#
# One environment holds af-rl, TRL with vLLM, and OpenRLHF: the run's driver launches OpenRLHF's CLI and
# OpenRLHF's actors load af-rl's reward and agent files. Three steps:
#   1. af-rl with its GPU extras (vLLM, DeepSpeed and OpenRLHF's other runtime dependencies) under the tested
#      pins of constraints.txt (Ray 2.60.0, transformers, torch, TRL, the OpenRLHF version);
#   2. OpenRLHF itself without its dependencies: every release pins exact Ray and transformers versions that
#      differ from constraints.txt (0.11.2: ray 2.55.0, transformers 5.15.0), so pip's resolver cannot
#      install it beside them; the version comes from constraints.txt;
#   3. flash-attn, compiled against the torch installed in step 1 (no build isolation).
# The TRL backend never imports OpenRLHF or flash-attn; the same environment serves every config.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python}"
FLASH_ATTN_VERSION="2.8.3"   # OpenRLHF 0.11.2's pin

"$PYTHON" -m pip install -c constraints.txt -e ".[gpu]"
"$PYTHON" -m pip install -c constraints.txt --no-deps openrlhf
"$PYTHON" -m pip install --no-build-isolation "flash-attn==$FLASH_ATTN_VERSION"
