# The two front-door commands: `make run` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CHROMIUM ?= /usr/bin/chromium

.PHONY: run test venv lint browser postgres bench lab clean airflow

# The kit is installed editable, so pip compiles none of it: compile its bytecode here, every
# time (up-to-date files are skipped). Without it, every process of every run compiles the kit
# from source wherever Python may not write bytecode beside it (PYTHONDONTWRITEBYTECODE, or a
# clone the scheduling user cannot write): about 0.2 s of CPU per `run sync`, in three processes.
venv: $(STAMP)
	@$(BIN)/python -m compileall -q komet_ftd_ops

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	$(BIN)/python -m ipykernel install --prefix $(VENV) --name python3 >/dev/null
	touch $(STAMP)

# The onboarding browser test drives Debian's Chromium through Playwright (no browser download).
browser:
	@if [ ! -x $(CHROMIUM) ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing chromium (Debian package) for the browser test"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "the browser test needs $(CHROMIUM): run 'sudo apt-get install chromium' (or set CHROMIUM=...)"; exit 1; \
	  fi; \
	fi

# Airflow pins its own dependencies (SQLAlchemy, pydantic, FastAPI...), so it gets its own
# virtualenv: the kit with its `airflow` extra, and pytest for tests/airflow (which the main
# run does not collect: tests/conftest.py).
AIRFLOW_VENV ?= .venv-airflow
AIRFLOW_BIN := $(AIRFLOW_VENV)/bin
AIRFLOW_STAMP := $(AIRFLOW_VENV)/.installed

airflow: $(AIRFLOW_STAMP)

$(AIRFLOW_STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed"'
	$(PYTHON) -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_BIN)/python -m pip install -q --upgrade pip
	$(AIRFLOW_BIN)/python -m pip install -q -e '.[airflow]' 'pytest>=8.0' 'pytest-timeout>=2.3'
	$(AIRFLOW_BIN)/python -m ipykernel install --prefix $(AIRFLOW_VENV) --name python3 >/dev/null
	touch $(AIRFLOW_STAMP)

# The PostgreSQL tests start a throwaway cluster of Debian's server (tests/pg.py): initdb and
# pg_ctl from /usr/lib/postgresql/*/bin, run as the `postgres` user when make runs as root.
postgres:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing postgresql (Debian package) for the PostgreSQL tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	  else \
	    echo "the PostgreSQL tests need Debian's server: run 'sudo apt-get install postgresql'"; exit 1; \
	  fi; \
	fi

run: venv
	$(BIN)/komet-ftd-ops demo

# JupyterLab on the kit's home (`komet-ftd-ops init` says which folder that is, and marks it),
# opening its notebooks/. --allow-root only when run as root (a container), never otherwise.
lab: venv
	@home="$$($(BIN)/komet-ftd-ops init --print-home)" && \
	  root_flag="" && if [ "$$(id -u)" = 0 ]; then root_flag="--allow-root"; fi && \
	  start="" && if [ -d "$$home/notebooks" ]; then start="--ServerApp.default_url=/lab/tree/notebooks"; fi && \
	  echo "JupyterLab on the kit home $$home" && \
	  exec $(BIN)/jupyter lab --notebook-dir="$$home" $$start $$root_flag $(LAB_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy komet_ftd_ops

# Two workers by default (this machine's cores); the simulation forks two more processes of its
# own. TEST_WORKERS=0 runs everything in one process. worksteal: a worker that runs out takes
# tests queued on a busy one (with the default `load` the ten-minute simulation's worker keeps
# a hundred tests queued behind it, run one by one after it while the other worker idles).
TEST_WORKERS ?= 2
test: venv lint browser postgres airflow
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal
	$(AIRFLOW_BIN)/python -m pytest -q tests/airflow

# Every benchmark runs even when one misses its target (each prints PASS/FAIL lines and exits 1
# on a miss); make bench fails at the end if any did.
BENCHES := sync cycle orders freshness oversell fleet
bench: venv postgres
	@failed=""; for b in $(BENCHES); do \
	  echo "== bench/$$b.py"; $(BIN)/python bench/$$b.py || failed="$$failed $$b"; \
	done; if [ -n "$$failed" ]; then echo "targets missed in:$$failed"; exit 1; fi

clean:
	rm -rf $(VENV) $(AIRFLOW_VENV) .pytest_cache
