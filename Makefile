# `make run` and `make test` are the two commands a newcomer needs; both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8501

.PHONY: run test lint bench clean-venv

$(BIN)/activate: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $(BIN)/activate

run: $(BIN)/activate
	$(BIN)/python -m ui.serve --server.port $(PORT)

test: $(BIN)/activate
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

lint: $(BIN)/activate
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Every bench, its table written into BENCHMARKS.md; `make bench BENCH_FLAGS=--smoke` checks the scripts run.
BENCH_FLAGS ?= --write
bench: $(BIN)/activate
	$(BIN)/python bench/run_all.py $(BENCH_FLAGS)

clean-venv:
	rm -rf $(VENV)
