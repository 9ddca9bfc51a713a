# Two commands a newcomer needs: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
DEMO_OUT ?= demo_out

.PHONY: world-model-checkpoints setup browser demo demo-offline test test-slow wheel-test test-gpu test-distributed bench-all lint format bench clean tokenizer-checkpoints

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first and pinned: unpinned, other packages pull a multi-GB CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]' torch==2.13.0
	touch $(STAMP)

setup: $(STAMP)

# The web app on http://127.0.0.1:7860 over the shipped checkpoints.
demo: setup
	$(VENV)/bin/worldfm demo --host 127.0.0.1 --port 7860 --out $(DEMO_OUT)

# The recorded demo without a server: shards, preview.mp4 and a Rerun .rrd in $(DEMO_OUT).
demo-offline: setup
	$(VENV)/bin/worldfm demo --offline --out $(DEMO_OUT)

# Headless Chromium for the web app's browser test (Debian package; CI runs as root).
browser:
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium) || \
	    echo "could not install chromium: the browser test will be skipped"

test: setup browser
	$(PY) -m pytest -q -m "not slow and not gpu"

# The CUDA paths (bf16 training steps and sampling of every model family); skipped without a GPU.
test-gpu: setup
	$(PY) -m pytest -q -m "gpu" -rs

# Multi-process training (2 gloo processes) and a two-node local Ray cluster; part of `make test` too.
test-distributed: setup
	$(PY) -m pytest -q tests/distributed

# One table of every benchmark against its baseline, written to benchmarks/RESULTS.md (QUICK=1: minutes).
bench-all: setup
	$(PY) benchmarks/run_all.py $(if $(QUICK),--quick,)

# The wheel as users install it: built from this checkout, installed into a fresh venv (nothing
# downloads: the venv sees .venv's packages), and used from a folder outside the checkout:
# gym.make, WorldModel.from_pretrained by name, the web app's model list, `worldfm --help`.
wheel-test: setup
	$(PY) -m pytest -q tests/app/test_wheel.py

test-slow: setup
	# pytest exits 5 when no test is marked slow; that is not a failure here.
	$(PY) -m pytest -q -m "slow" || [ $$? -eq 5 ]

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: setup
	$(PY) benchmarks/simulate.py

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache .ruff_cache

# The shipped checkpoints, end to end: every command lives in one recipe (app/recipe/fetch64.py; list them with
# `worldfm recipe fetch64 --out . --list`). Finished steps are skipped and each training run resumes,
# so rerunning a target continues an interrupted one; results are copied into checkpoints/ with their
# model cards and training curves. `worldfm recipe fetch64 --out . --ship-to checkpoints` runs it all.
# The tokenizers: about 5 h on 2 CPU cores.
tokenizer-checkpoints: setup
	$(VENV)/bin/worldfm recipe fetch64 --out . --ship-to checkpoints --only simulate-fetch64,tokenizers

# The world models on the shipped CI8x8 / DI8x8 tokenizers and data/fetch64 (about 2.5 h on 2 CPU cores),
# then float16 storage, evaluation, model cards and the robot model's reward head (on data/fetch64 and
# the coverage episodes of data/fetch-cov).
world-model-checkpoints: setup
	$(VENV)/bin/worldfm recipe fetch64 --out . --ship-to checkpoints --only simulate-fetch64,simulate-fetch-cov,world-models
