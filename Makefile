# eessi-sim: the two commands are `make demo` and `make test`; each sets up what it needs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test check format bench clean venv postgresql chromium

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/eessi demo

test: $(STAMP) postgresql chromium
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The journal's contract tests start their own PostgreSQL server (tests/postgres_cluster.py):
# install Debian's server when its binaries are missing (as root, quietly; a no-op otherwise).
# EESSI_TEST_SKIP_POSTGRES=1 skips both this and those tests.
postgresql:
	@if [ "$$EESSI_TEST_SKIP_POSTGRES" != 1 ] && ! command -v pg_ctl >/dev/null 2>&1 \
	    && ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing PostgreSQL (Debian's postgresql) for the journal tests"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      --no-install-recommends postgresql >/dev/null) || exit 1; \
	  else \
	    echo "PostgreSQL server binaries missing: install Debian's postgresql (as root)," \
	      "or set EESSI_TEST_SKIP_POSTGRES=1 to skip its tests" >&2; exit 1; \
	  fi; \
	fi

# The dashboard's tests (tests/web) drive Debian's Chromium through Playwright, which never
# downloads a browser of its own here: install Debian's chromium when it is missing (as root,
# quietly; a no-op otherwise). EESSI_TEST_SKIP_BROWSER=1 skips both this and those tests.
chromium:
	@if [ "$$EESSI_TEST_SKIP_BROWSER" != 1 ] && [ ! -x "$${EESSI_CHROMIUM:-/usr/bin/chromium}" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Chromium (Debian's chromium) for the dashboard's browser tests"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      --no-install-recommends chromium >/dev/null) || exit 1; \
	  else \
	    echo "Chromium missing: install Debian's chromium (as root), or set" \
	      "EESSI_TEST_SKIP_BROWSER=1 to skip the dashboard's browser tests" >&2; exit 1; \
	  fi; \
	fi

check: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	for b in bench/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache
