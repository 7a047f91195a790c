# Two commands do all set-up on a fresh machine with Python 3.11:
#   make demo   generate the demo data and serve the web UI on http://127.0.0.1:8000
#   make test   the whole test suite (SQLite, then PostgreSQL; browser tests in Chromium)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PG_URL ?= postgresql://postgres@127.0.0.1:5432/test

.PHONY: demo test lint lock bench clean

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/kokemus demo

test: $(STAMP)
	.ci/services
	$(BIN)/python -m pytest
	KOKEMUS_TEST_DATABASE_URL=$(PG_URL) $(BIN)/python -m pytest -m "not browser and not spark"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

# Re-pin every dependency after a change to pyproject.toml.
lock: $(STAMP)
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 \
		-o requirements.lock

bench: $(STAMP)
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/journeys.py
	$(BIN)/python bench/feedback.py
	$(BIN)/python bench/trust.py

clean:
	rm -rf $(VENV) kokemus-demo .pytest_cache .mypy_cache .ruff_cache
