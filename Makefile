# `make run` and `make test` do all the set-up they need on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TEST_DATABASES ?= sqlite,postgresql

.PHONY: run test lint bench

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
