# Two commands do all the setup: `make demo` (the main job on the embedded default) and `make test`.
# Both create .venv when it is missing and install the project into it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of torch; set TORCH_SPEC=torch for a CUDA machine.
TORCH_SPEC ?= torch==2.13.0
PIP := $(BIN)/python -m pip
PIP_FLAGS ?= --quiet --disable-pip-version-check

.PHONY: demo test bench rank venv clean-venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml Makefile | $(BIN)/python
	$(PIP) install $(PIP_FLAGS) "$(TORCH_SPEC)"
	$(PIP) install $(PIP_FLAGS) -e ".[test,render,cluster,fan,dlib]"
	# face-alignment (detector 'fan') without its opencv-python requirement: mediapipe's
	# opencv-contrib-python already provides cv2, and two OpenCV wheels overwrite each other
	$(PIP) install $(PIP_FLAGS) --no-deps "face-alignment>=1.4"
	touch $@

venv: $(VENV)/.installed

test: $(VENV)/.installed
	$(BIN)/python -m pytest -n 2 --dist loadfile -q -rs

demo: $(VENV)/.installed
	$(BIN)/python -m pipeline.demo --out demo_out

bench: $(VENV)/.installed
	$(BIN)/python -m bench.run_all

# The ranking experiment (issue 16): EmoFace, single branch, add fusion, teacher forcing x 2 seeds on a
# generated 16-actor corpus; about two hours on 2 cores; resumable; writes rank_out/ and BENCHMARKS.md.
# A run trained with other settings or data than now stops it with an error naming the run: then
# `make rank RANK_ARGS=--retrain-stale` moves such runs aside (RUN.stale-<time>) and trains them again.
RANK_ARGS ?=
rank: $(VENV)/.installed
	$(BIN)/python -m bench.rank --out rank_out $(RANK_ARGS)

clean-venv:
	rm -rf $(VENV)
