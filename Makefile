# The two set-up commands of the README: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_UPSTREAMS ?= -u fbank

.PHONY: setup demo test test-quick clean-results tiny-hubert

setup: $(VENV)/.ready

$(VENV)/.ready: setup.py tools/setup_env.sh
	bash tools/setup_env.sh
	touch $@

# The main job on the embedded default: build the mini corpus, run the SUPERB tasks, write results/mini/.
demo: setup
	$(PY) run_benchmark.py --preset mini $(DEMO_UPSTREAMS)

test: setup
	$(PY) -m pytest -q tests

# Skip the slow end-to-end tests (marked `slow`).
test-quick: setup
	$(PY) -m pytest -q -m "not slow" tests

# Reproduce the shipped teacher: HuBERT iteration 1 (MFCC units, from scratch), then iteration 2
# (units from its layer 4, continuing its weights); the export replaces the shipped checkpoint.
tiny-hubert: setup
	$(PY) run_pretrain.py -u hubert_teacher --preset mini -n tiny_hubert_it1
	$(PY) run_pretrain.py -u hubert_teacher --preset mini -n tiny_hubert \
	    -g pretrain/hubert_teacher/variants/iteration2.yaml -c pretrain/hubert_teacher/variants/iteration2_runner.yaml
	cp result/pretrain/tiny_hubert/upstream.pt upstream_distill/upstreams/tiny_hubert/tiny_hubert.pt
