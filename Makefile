# The two front-door commands: `make run` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test venv lint bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	$(BIN)/python -m ipykernel install --prefix $(VENV) --name python3 >/dev/null
	touch $(STAMP)

run: venv
	$(BIN)/komet-ftd-ops demo

lint: venv
	$(BIN)/ruff check .

test: venv lint
	$(BIN)/python -m pytest

bench: venv
	$(BIN)/python bench/sync.py

clean:
	rm -rf $(VENV) .pytest_cache
