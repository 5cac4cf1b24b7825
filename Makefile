# Set-up and checks. `make install` builds .venv: torch 2.13.0 (the CPU wheel) goes in first,
# because an unpinned torch pulls a multi-GB CUDA build; then mixc with every layer (`all`) and `dev`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: install test quickstart bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[all,dev]"
	# Bytecode now, so no command pays for compiling (PYTHONDONTWRITEBYTECODE may be set).
	$(BIN)/python -m compileall -q mixc spec compiler runtime

test: install
	$(BIN)/python -m pytest

quickstart: install
	$(BIN)/mixc run examples/quickstart.mix

bench: install
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done
