# Two commands matter: `make demo` runs the product on embedded defaults, `make test` checks it.
# `make demo` leaves the demo running in the background (`make demo-stop` stops it; `make demo` again restarts it
# and keeps the data). `make screenshots` refreshes the screenshots the docs show (docs/screenshots/).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000
EMULATOR_PORT ?= 8787

.PHONY: demo demo-stop screenshots test test-fast lint format test-suite ci clean venv

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

# The inner loop: everything but the browser tests and the end-to-end runs marked slow.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadgroup -m "not browser and not slow"

demo: $(STAMP)
	PORT=$(PORT) EMULATOR_PORT=$(EMULATOR_PORT) $(BIN)/python bin/demo.py

demo-stop: $(STAMP)
	$(BIN)/python bin/demo.py stop

# The browser tests write their screenshots to var/screenshots (ignored), never into the tracked docs; this copies
# the documented ones over docs/screenshots on purpose (tests/browser/support.py, DOCUMENTED_SCREENSHOTS).
screenshots: $(STAMP)
	rm -rf var/screenshots
	$(BIN)/python -m pytest -n 2 --dist loadgroup -m browser tests/browser
	$(BIN)/python tests/browser/support.py

ci:
	bash .ci/run

clean:
	test ! -x $(BIN)/python || $(BIN)/python bin/demo.py stop
	rm -rf $(VENV) var staticfiles
