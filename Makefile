# Two commands matter: `make demo` runs the product on embedded defaults, `make test` checks it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000
EMULATOR_PORT ?= 8787

.PHONY: demo test lint format test-suite ci clean venv

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test-suite: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadgroup

test: lint test-suite

demo: $(STAMP)
	PORT=$(PORT) EMULATOR_PORT=$(EMULATOR_PORT) $(BIN)/python bin/demo.py

ci:
	bash .ci/run

clean:
	rm -rf $(VENV) var staticfiles
