# Everything a fresh Debian machine needs, from the system packages up.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.adatune-installed
DEPS := setup.py pyproject.toml CMakeLists.txt $(wildcard cmake/*.cmake) $(wildcard src/*.cc) $(wildcard src/*.h)

.PHONY: install sysdeps test demo bench clean

install: $(STAMP)

# Compilers, venv support and the PostgreSQL server binaries the store tests start.
sysdeps:
	@bash scripts/install-sysdeps.sh

$(STAMP): $(DEPS)
	@$(MAKE) --no-print-directory sysdeps
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,bench]'
	$(BIN)/python -c "import adatune; adatune.libinfo.find_lib_path()"
	@touch $@

test: install
	$(BIN)/python -m pytest -q tests

demo: install
	$(BIN)/adatune demo

bench: install
	$(BIN)/python bench/evaluator.py --quick --json bench/results/evaluator.json

clean:
	rm -rf build dist python/*.egg-info python/adatune/lib/*.so .pytest_cache
	find . -name __pycache__ -prune -exec rm -rf {} +
	rm -rf $(VENV)
