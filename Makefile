# The two set-up commands of the README: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
# the main table: the FBANK baseline, the shipped teacher, and its DistilHuBERT and STaR students
# (distilled first, see pretrain/students.yaml)
DEMO_UPSTREAMS ?= -u fbank -u tiny_hubert --student distilhubert --student star_hubert

.PHONY: setup demo studies speed gpu-check lint test test-quick clean-results tiny-hubert

setup: $(VENV)/.ready

$(VENV)/.ready: setup.py tools/setup_env.sh
	bash tools/setup_env.sh
	touch $@

# The main job on the embedded default: build the mini corpus, distil the students, run the SUPERB
# tasks, write results/mini/. Interrupted, it resumes where it stopped.
demo: setup
	$(PY) run_benchmark.py --preset mini $(DEMO_UPSTREAMS)

# The method studies: STaR's loss selection, Wang et al.'s structures / loss / front-end, a second
# distillation seed of DistilHuBERT and STaR (how far two seeds of one method differ), DPHuBERT's
# pruning (whole-layer gates, a second budget) and SKILL's layer groups (random groups, no averaging).
studies: setup
	$(PY) run_benchmark.py --preset mini --study star_loss_selection
	$(PY) run_benchmark.py --preset mini --study asr_distill --tasks pr,asr,ks,sid,er,asr_low,asr_low_ft
	$(PY) run_benchmark.py --preset mini --study distillation_seeds
	$(PY) run_benchmark.py --preset mini --study pruning
	$(PY) run_benchmark.py --preset mini --study skill

# Parameters and CPU inference time, side by side in one run (papers' shapes, the mini students).
speed: setup
	$(PY) -m upstream_distill.benchmark.speed --out results/speed.md

# Deployment latency: teacher and students on PyTorch and ONNX Runtime, float32 and int8, a 10 s utterance
# and a 1 s chunk, 1 and 2 threads, peak memory; each configuration in a fresh process (~15 min, 2 cores).
latency: setup
	$(PY) -m upstream_distill.benchmark.latency --out results/latency.md

# The GPU path end to end on random weights (a CUDA machine; never in CI): distillation of DistilHuBERT,
# STaR and DPHuBERT from a HuBERT Base-shaped teacher with AMP, a downstream task, inference throughput.
gpu-check: setup
	$(PY) -m upstream_distill.benchmark.gpu_check --out results/gpu.md

# Lint (ruff: pyflakes, pycodestyle errors, import order; settings in pyproject.toml). CI runs it first.
lint: setup
	$(PY) -m ruff check .

# Two workers (pytest-xdist), each test module on one of them (its module fixtures run once): most tests
# wait on real subprocesses, so two at a time use both cores.
test: setup
	$(PY) -m pytest -q -n 2 --dist loadscope tests

# Skip the slow end-to-end tests (marked `slow`).
test-quick: setup
	$(PY) -m pytest -q -m "not slow" tests

# Reproduce the shipped teacher: HuBERT iteration 1 (MFCC units, from scratch), iteration 2 (units
# from its layer 4, continuing its weights), iteration 3 (units from the CNN output, each utterance
# normalised, continuing again); the export replaces the shipped checkpoint.
TINY_HUBERT := upstream_distill/upstreams/tiny_hubert/tiny_hubert
tiny-hubert: setup
	$(PY) run_pretrain.py -u hubert_teacher --preset mini -n tiny_hubert_it1
	$(PY) run_pretrain.py -u hubert_teacher --preset mini -n tiny_hubert \
	    -g pretrain/hubert_teacher/variants/iteration2.yaml -c pretrain/hubert_teacher/variants/iteration2_runner.yaml
	$(PY) run_pretrain.py -u hubert_teacher --preset mini -n tiny_hubert_it3 \
	    -g pretrain/hubert_teacher/variants/iteration3.yaml -c pretrain/hubert_teacher/variants/iteration3_runner.yaml
	for f in config.yaml metrics.jsonl train.log; do \
	    cp result/pretrain/tiny_hubert_it1/$$f $(TINY_HUBERT).iteration1.$$f; \
	    cp result/pretrain/tiny_hubert/$$f $(TINY_HUBERT).iteration2.$$f; \
	    cp result/pretrain/tiny_hubert_it3/$$f $(TINY_HUBERT).$$f; \
	done
	cp result/pretrain/tiny_hubert_it3/upstream.pt $(TINY_HUBERT).pt
