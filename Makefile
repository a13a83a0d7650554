# `make run` and `make test` do all the set-up they need on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TEST_DATABASES ?= sqlite,postgresql

.PHONY: run test lint bench crash-matrix fuzz-silence

$(BIN)/balint-bot: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

run: $(BIN)/balint-bot
	$(BIN)/balint-bot run

test: $(BIN)/balint-bot
	TEST_DATABASES=$(TEST_DATABASES) $(BIN)/python -m pytest

lint: $(BIN)/balint-bot
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: $(BIN)/balint-bot
	$(BIN)/python -m benchmarks

# Every kill point with every aftermath (CI runs each kill point once).
crash-matrix: $(BIN)/balint-bot
	BALINT_CRASH_MATRIX=full TEST_DATABASES=$(TEST_DATABASES) $(BIN)/python -m pytest tests/e2e/test_session_crashes.py

# Thousands of random fault sequences (CI runs a dozen per database).
fuzz-silence: $(BIN)/balint-bot
	$(BIN)/python -m tests.e2e.stateful_silence $(SEQUENCES)
