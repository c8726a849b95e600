# af-rl: `make demo` runs the CPU demo as a Ray job; `make test` runs the test suite.
# Both set up .venv first (CPU torch pinned by constraints.txt).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
VF_ENV := environments/alignment_faking
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt $(VF_ENV)/pyproject.toml | cksum | cut -d' ' -f1)
DEMO_CONFIG ?= configs/demo_cpu.yaml
RUNS   := $(CURDIR)/runs

.PHONY: setup demo test test-fast bench clean-venv

$(STAMP): pyproject.toml constraints.txt $(VF_ENV)/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[test,inspect,verifiers]" -e $(VF_ENV)
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

# Chromium for the viewer's browser tests (tests/rl/test_viewer.py), installed by `make test`. The binary
# is its own stamp file: the recipe runs only while it is missing. Without root or passwordless sudo (or
# apt) it only warns; the tests run and the browser tests skip, saying why.
CHROMIUM     := /usr/bin/chromium
APT_CHROMIUM := export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get install -y -qq chromium
NO_CHROMIUM  := WARNING: could not install Chromium ($(CHROMIUM)); the browser tests in tests/rl/test_viewer.py will skip. Install the Debian package chromium to run them.

$(CHROMIUM):
	@if ! command -v apt-get >/dev/null 2>&1; then echo "$(NO_CHROMIUM)"; \
	elif [ "$$(id -u)" = 0 ]; then sh -c '$(APT_CHROMIUM)' || echo "$(NO_CHROMIUM)"; \
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then \
	  sudo -n sh -c '$(APT_CHROMIUM)' || echo "$(NO_CHROMIUM)"; \
	else echo "$(NO_CHROMIUM) (needs root or sudo -n)"; fi

setup: $(STAMP)

# Starts a local Ray head, submits rl/train.py as a Ray job (logs streamed), stops the head it started.
# .git and .venv stay out of the job's package as Ray's defaults would leave them, named as the job's own
# excludes: Ray warns about each default exclude it finds ("now ignored by default"), a warning nobody can act on.
RAY_DEFAULT_EXCLUDES := venv,__pycache__
demo: setup
	@PATH="$(CURDIR)/$(BIN):$$PATH" bash cluster/local_head.sh start
	@PATH="$(CURDIR)/$(BIN):$$PATH" RAY_ADDRESS=http://127.0.0.1:8265 RAY_AUTH_MODE=disabled \
	  RAY_OVERRIDE_RUNTIME_ENV_DEFAULT_EXCLUDES=$(RAY_DEFAULT_EXCLUDES) \
	  $(BIN)/ray job submit --working-dir . --runtime-env-json '{"excludes": [".git", ".venv"]}' \
	  -- python rl/train.py --config $(DEMO_CONFIG) rl.output_dir=$(RUNS); \
	  rc=$$?; PATH="$(CURDIR)/$(BIN):$$PATH" bash cluster/local_head.sh stop; \
	  if [ $$rc -eq 0 ]; then $(BIN)/python -m rl.where --config $(DEMO_CONFIG) rl.output_dir=$(RUNS); fi; exit $$rc

# What CI runs: the whole suite; the 15 slowest tests are listed at the end.
test: setup $(CHROMIUM)
	$(BIN)/python -m pytest -q --durations=15

test-fast: setup $(CHROMIUM)
	$(BIN)/python -m pytest -q -m "not slow and not gpu"

# Every benchmark, one after another (about 75 min on 2 cores; nothing else should run meanwhile).
# Figures land in bench/results/*.json; bench/README.md reports them.
bench: setup
	$(BIN)/python bench/classifier_throughput.py
	$(BIN)/python bench/fuzz_scoring.py --n 50000 --seed 0
	$(BIN)/python bench/judge_throughput.py --n 1000 --latency 0.1 --concurrency 64
	$(BIN)/python bench/docs_generation.py --n 10000 --endpoint-n 1000 --latency 0.1 --concurrency 64
	$(BIN)/python bench/trl_overhead.py --repeats 3 --scaling
	$(BIN)/python bench/prefix_cache.py --n-queries 4 --max-new-tokens 32 --repeats 3
	$(BIN)/python bench/trl_rollouts.py --repeats 1
	$(BIN)/python bench/demo_time.py
	$(BIN)/python bench/demo_seeds.py --seeds 0,1,2,3,4

clean-venv:
	rm -rf $(VENV)
