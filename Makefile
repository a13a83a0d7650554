# `make run` and `make test` do all the set-up they need on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TEST_DATABASES ?= sqlite,postgresql

.PHONY: run test lint bench lock crash-matrix fuzz-silence demo

# Installs come from the lock files, pinned and hashed, never from whatever is newest.
$(BIN)/balint-bot: pyproject.toml requirements-dev.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

# After changing dependencies in pyproject.toml: `make lock`, then commit both files.
PIP_COMPILE = $(BIN)/python -m piptools compile --quiet --strip-extras --generate-hashes \
	--no-emit-index-url --no-emit-find-links --no-header
lock: $(BIN)/balint-bot
	$(BIN)/python -m pip install --quiet "pip-tools>=7.4"
	$(PIP_COMPILE) --output-file requirements.lock pyproject.toml
	$(PIP_COMPILE) --extra dev --output-file requirements-dev.lock pyproject.toml

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

# The real bot against the emulator through a scripted meeting; writes an HTML transcript
# of what each person saw (no Discord account needed). DEMO_OUTPUT sets where.
DEMO_OUTPUT ?= build/demo/transcript.html
demo: $(BIN)/balint-bot
	$(BIN)/python -m tests.e2e.demo $(DEMO_OUTPUT)
