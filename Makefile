# The two set-up commands of the README: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_UPSTREAMS ?= -u fbank

.PHONY: setup demo test test-quick clean-results

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
