# Two commands a newcomer needs: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
DEMO_OUT ?= demo_out

.PHONY: world-model-checkpoints setup browser demo demo-offline test test-slow test-gpu test-distributed bench-all lint format bench clean tokenizer-checkpoints

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

# The shipped tokenizer checkpoints, end to end (about 5 h on 2 CPU cores). Each run resumes if
# interrupted; the results are copied into checkpoints/ with their model cards and training curves.
RUNS ?= runs
tokenizer-checkpoints: setup
	$(VENV)/bin/worldfm simulate fetch --episodes 240 --size 64 --seed 100 --out data/fetch64 --overwrite
	$(VENV)/bin/worldfm train tokenizer --config CI8x8-small --data data/fetch64 --out $(RUNS)/ci8x8-fetch64 \
	    --steps 10000 --batch-size 16 --lr 2e-3 --warmup 200 --ema 0.999 --eval-every 1000 --save-every 500 --log-every 100
	# A second, lower-lr schedule from those weights: +0.3 dB held-out.
	$(VENV)/bin/worldfm train tokenizer --config CI8x8-small --data data/fetch64 --out $(RUNS)/ci8x8-fetch64-ft \
	    --init-from $(RUNS)/ci8x8-fetch64 --steps 4000 --batch-size 16 --lr 6e-4 --warmup 100 --ema 0.999 \
	    --eval-every 1000 --save-every 500 --log-every 100
	# Then the decoder alone (the latents, and the world models trained on them, stay valid):
	# L1, then pixel MSE, PSNR's own loss.
	$(VENV)/bin/worldfm train tokenizer --config CI8x8-small --data data/fetch64 --out $(RUNS)/ci8x8-fetch64-dec \
	    --init-from $(RUNS)/ci8x8-fetch64-ft --freeze-encoder --steps 4000 --batch-size 16 --lr 6e-4 --warmup 100 \
	    --ema 0.999 --eval-every 1000 --save-every 250 --log-every 50
	$(VENV)/bin/worldfm train tokenizer --config CI8x8-small --data data/fetch64 --out $(RUNS)/ci8x8-fetch64-mse \
	    --init-from $(RUNS)/ci8x8-fetch64-dec --freeze-encoder --l1 0 --mse 1 --steps 3000 --batch-size 16 --lr 3e-4 \
	    --warmup 100 --ema 0.999 --eval-every 1000 --save-every 250 --log-every 50
	$(VENV)/bin/worldfm train tokenizer --config CV4x8x8-small --data data/fetch64 --out $(RUNS)/cv4x8x8-fetch64 \
	    --steps 1200 --batch-size 8 --lr 2e-3 --warmup 100 --ema 0.999 --eval-every 400 --save-every 200 --log-every 50
	$(VENV)/bin/worldfm train tokenizer --config DV4x8x8-small --data data/fetch64 --out $(RUNS)/dv4x8x8-fetch64 \
	    --steps 1200 --batch-size 8 --lr 2e-3 --warmup 100 --ema 0.999 --eval-every 400 --save-every 200 --log-every 50
	# Second schedules from those weights (stage 2, DIS flow, from 70% of each).
	$(VENV)/bin/worldfm train tokenizer --config CV4x8x8-small --data data/fetch64 --out $(RUNS)/cv4x8x8-fetch64-ft \
	    --init-from $(RUNS)/cv4x8x8-fetch64 --steps 2000 --batch-size 8 --lr 1e-3 --warmup 100 --ema 0.999 \
	    --eval-every 400 --save-every 100 --log-every 50
	$(VENV)/bin/worldfm train tokenizer --config DV4x8x8-small --data data/fetch64 --out $(RUNS)/dv4x8x8-fetch64-ft \
	    --init-from $(RUNS)/dv4x8x8-fetch64 --steps 2400 --batch-size 8 --lr 1e-3 --warmup 100 --ema 0.999 \
	    --eval-every 400 --save-every 100 --log-every 50
	# The discrete image tokenizer of the autoregressive world model, from the CI8x8 weights.
	$(VENV)/bin/worldfm train tokenizer --config DI8x8-small --data data/fetch64 --out $(RUNS)/di8x8-fetch64 \
	    --init-from $(RUNS)/ci8x8-fetch64-mse --steps 4000 --batch-size 16 --lr 1e-3 --warmup 200 --ema 0.999 \
	    --eval-every 1000 --save-every 250 --log-every 50
	for run in ci8x8-fetch64 cv4x8x8-fetch64 dv4x8x8-fetch64 di8x8-fetch64; do \
	    src=$$run; [ $$run = ci8x8-fetch64 ] && src=ci8x8-fetch64-mse; [ $$run = dv4x8x8-fetch64 ] && src=dv4x8x8-fetch64-ft; \
	    [ $$run = cv4x8x8-fetch64 ] && src=cv4x8x8-fetch64-ft; \
	    mkdir -p checkpoints/tokenizer-$$run/logs && \
	    cp $(RUNS)/$$src/config.json $(RUNS)/$$src/model.safetensors checkpoints/tokenizer-$$run/ && \
	    cp $(RUNS)/$$src/logs/metrics.csv checkpoints/tokenizer-$$run/logs/ && \
	    $(VENV)/bin/worldfm eval tokenizer --ckpt checkpoints/tokenizer-$$run --data data/fetch64 --clips 64 --card; \
	done

# The shipped world models on the shipped CI8x8 / DI8x8 tokenizers and data/fetch64 (about 2.5 h on 2 CPU
# cores: the two runs share them, one thread each), then float16 storage, evaluation, model cards
# and the robot model's reward head.
WFM_COMMON = --tokenizer checkpoints/tokenizer-ci8x8-fetch64 --data data/fetch64 --dit DiT-XS --context-frames 2 \
	--batch-size 16 --lr 1e-3 --warmup 200 --ema 0.999 --eval-every 1000 --save-every 250 --log-every 50
world-model-checkpoints: setup
	test -d data/fetch64 || $(VENV)/bin/worldfm simulate fetch --episodes 240 --size 64 --seed 100 --out data/fetch64
	OMP_NUM_THREADS=1 $(VENV)/bin/worldfm train posttrain --task robot $(WFM_COMMON) --residual --p-mean 0 \
	    --sigma-max 20 --steps 7000 --out $(RUNS)/fetchpush-wm-dit & \
	OMP_NUM_THREADS=1 $(VENV)/bin/worldfm train diffusion --text $(WFM_COMMON) --p-mean -0.4 --steps 4000 \
	    --out $(RUNS)/fetch-t2w-dit & \
	wait
	for run in fetchpush-wm-dit fetch-t2w-dit; do \
	    mkdir -p checkpoints/$$run/logs && \
	    cp $(RUNS)/$$run/config.json $(RUNS)/$$run/model.safetensors checkpoints/$$run/ && \
	    cp $(RUNS)/$$run/logs/metrics.csv checkpoints/$$run/logs/ && \
	    if [ -f $(RUNS)/$$run/text_tokenizer.json ]; then cp $(RUNS)/$$run/text_tokenizer.json checkpoints/$$run/; fi && \
	    $(PY) -c "from worldmodel import hub; d='checkpoints/$$run'; \
	        hub.update_section(d, 'world_model', {'tokenizer': '../tokenizer-ci8x8-fetch64'}); hub.store_half(d)"; \
	done
	$(VENV)/bin/worldfm eval wfm --ckpt checkpoints/fetchpush-wm-dit --clips 32 --horizon 16 --steps 1 4 \
	    --precision fp32 bf16 --card
	$(VENV)/bin/worldfm eval wfm --ckpt checkpoints/fetch-t2w-dit --clips 32 --horizon 16 --steps 1 4 \
	    --precision fp32 bf16 --card
	$(VENV)/bin/worldfm train reward --wfm checkpoints/fetchpush-wm-dit --data data/fetch64 --arch conv --hidden 64 \
	    --steps 3000 --progress --imagined-horizon 16 --imagined-stride 8
	# The autoregressive model: a GPT over the discrete image tokenizer's FSQ tokens.
	OMP_NUM_THREADS=1 $(VENV)/bin/worldfm train ar --tokenizer checkpoints/tokenizer-di8x8-fetch64 --data data/fetch64 \
	    --out $(RUNS)/fetchpush-wm-ar --gpt GPT-XS --actions --context-frames 2 --steps 3500 --batch-size 16 --lr 1e-3 \
	    --warmup 200 --ema 0.999 --eval-every 700 --save-every 250 --log-every 50
	mkdir -p checkpoints/fetchpush-wm-ar/logs && \
	    cp $(RUNS)/fetchpush-wm-ar/config.json $(RUNS)/fetchpush-wm-ar/model.safetensors checkpoints/fetchpush-wm-ar/ && \
	    cp $(RUNS)/fetchpush-wm-ar/logs/metrics.csv checkpoints/fetchpush-wm-ar/logs/ && \
	    $(PY) -c "from worldmodel import hub; d='checkpoints/fetchpush-wm-ar'; \
	        hub.update_section(d, 'world_model', {'tokenizer': '../tokenizer-di8x8-fetch64'})"
	$(VENV)/bin/worldfm eval wfm --ckpt checkpoints/fetchpush-wm-ar --clips 32 --horizon 16 --precision fp32 bf16 --card
