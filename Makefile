# The two fresh-machine commands are `make demo` and `make test`; both build
# the virtualenv they need. Requires python3 (3.11+) and make.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Test processes side by side (pytest-xdist): most tests wait on a stand-in,
# PostgreSQL or a subprocess, so two share two cores well. 0 runs them in one.
TEST_WORKERS ?= 2

.PHONY: demo test coverage test-matrix lint docs bench lock clean

$(BIN)/syncer: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

## demo: a local SageMaker stand-in with a sample registry, mirrored into Postgres
demo: $(BIN)/syncer
	$(BIN)/syncer demo

## test: the whole suite against a real PostgreSQL (started if it is down)
test: $(BIN)/syncer
	.ci/ensure-pgbouncer
	SYNCER_TEST_DATABASE_URL="$$(PATH=$(BIN):$$PATH .ci/ensure-postgres)" \
	  $(BIN)/pytest -p no:cacheprovider -n $(TEST_WORKERS) $(PYTEST_ARGS)

## coverage: the same suite with a line and branch coverage report (about a third slower)
coverage:
	$(MAKE) test PYTEST_ARGS='--cov --cov-report=term:skip-covered $(PYTEST_ARGS)'

## test-matrix: the integration suite on PostgreSQL 15, 16 and 18 in turn (VERSIONS="16 18" for some)
test-matrix: $(BIN)/syncer
	BIN=$(BIN) .ci/test-matrix

lint: $(BIN)/syncer
	$(BIN)/ruff check syncer standin tests bench
	$(BIN)/ruff format --check syncer standin
	$(BIN)/mypy

## docs: write the settings table of docs/configuration.md from syncer/settings.py
docs: $(BIN)/syncer
	$(BIN)/python -c 'import pathlib, syncer.variables as s; p = pathlib.Path("docs/configuration.md"); p.write_text(s.with_reference(p.read_text()))'

## lock: re-pin the image's dependencies, with hashes, from pyproject.toml (see CONTRIBUTING.md)
lock: $(BIN)/syncer
	$(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url \
	  --output-file requirements/image.txt pyproject.toml
	$(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url \
	  --build-deps-for=wheel --only-build-deps --output-file requirements/build.txt pyproject.toml

bench: $(BIN)/syncer
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
