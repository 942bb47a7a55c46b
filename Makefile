# Two entry points: `make run` (the app on the bundled corpus; `make run PORT=8080 HOST=0.0.0.0`)
# and `make test`. Every dependency, models included, is declared in pyproject.toml.
PYTHON ?= python3
PORT ?= 7860
HOST ?= 127.0.0.1
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test ingest eval bench chromium clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e ".[test,ray]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python app.py --port $(PORT) --host $(HOST)

ingest: $(STAMP)
	$(BIN)/qa ingest corpus

# Debian's Chromium drives the browser test; Playwright never downloads a browser of its own.
# As root it is installed; otherwise one line says how, and the browser test is skipped.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else echo "make test: Chromium is missing, so the browser test will be skipped; install it with: sudo apt-get install -y chromium" >&2; fi; }

# Lint and type-check first: make stops at the first failing line with its non-zero status.
# pytest runs in two worker processes (pytest-xdist). From a fresh clone, install included: 4 min 45 s
# (pytest 3 min) on a quiet 2-core Intel Xeon, 6.5-7.5 min while a benchmark build loads both cores
# (docs/performance.md, "The test suite").
test: $(STAMP) chromium
	$(BIN)/python -m ruff check .
	$(BIN)/python -m mypy
	$(BIN)/python -m pytest -n 2

eval: ingest
	$(BIN)/qa eval

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) index/catalog.sqlite* index/segments index/CURRENT index/v* test-output
