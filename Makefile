# Koubei Sentinel: the two commands a new user needs are `make demo` and `make test`.
# Both create .venv and install the project (with the embedded broker) on first use.

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.koubei-installed

.PHONY: demo test test-unit lint bench install clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required (found " + sys.version.split()[0] + ")")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/koubei demo

test: $(STAMP)
	-@sh deploy/tools/ensure-prometheus-tools.sh
	$(BIN)/python -m pytest -ra

test-unit: $(STAMP)
	$(BIN)/python -m pytest -ra -m "not integration"

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python bench/pipeline_bench.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info .koubei-data
