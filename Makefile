# Territoires — the two commands of the README are `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# the pages' front-end libraries (Leaflet, Chart.js, the départements outline) from npm
ASSETS := src/territoires/web/static/vendor/.built
$(ASSETS): package.json package-lock.json scripts/build-assets
	scripts/build-assets

install: $(STAMP) $(ASSETS)

run: install
	scripts/demo $(BIN)

# SQLite always; PostgreSQL + PostGIS too when installed (see scripts/test).
test: install
	scripts/test $(BIN)/python

# Both backends when PostgreSQL + PostGIS are installed; e.g. make bench BENCH_ARGS="--backend sqlite --quick"
bench: install
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis
