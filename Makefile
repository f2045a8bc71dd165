# Two commands from a clean clone on a fresh machine (README):
#   make demo   - create .venv if missing, install the pinned project, run the national
#                 flow on the shipped sample data (embedded DuckDB, temporary Prefect API)
#   make test   - same bootstrap, then the whole test suite
# The install is pinned twice: direct dependencies in pyproject.toml, the full resolved
# set in constraints.txt (refresh with `make lock` after changing a pin).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1
export GX_ANALYTICS_ENABLED := false
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 60

.PHONY: demo test lint lock clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/fh-screening demo

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .

lock: $(STAMP)
	$(BIN)/pip freeze --exclude-editable | grep -v '^-e' > constraints.txt

# clean removes what a rebuild or a test run recreates, never the workspace: it holds the
# pseudonym key, the identity vault and the referral history (store.duckdb), which no
# rebuild can recreate. A demo workspace is removed by hand (docs/operations.md).
clean:
	rm -rf .pytest_cache test-artifacts .ruff_cache
