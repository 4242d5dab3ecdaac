# Two entry points: `make demo` runs eseal on the embedded SQLite default,
# `make test` runs the whole test suite. Both create their own venv.
PYTHON ?= python3
VENV := .venv
UV := $(VENV)/bin/uv
UV_VERSION := 0.13.8
export UV_PROJECT_ENVIRONMENT := $(abspath $(VENV))
DEMO_DIR ?= demo-data

.PHONY: demo test lint bench clean venv

$(UV):
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --quiet
	touch $@

venv: $(VENV)/.synced

demo: venv
	ESEAL_PASSPHRASE=$${ESEAL_PASSPHRASE:-demo-passphrase} $(VENV)/bin/eseal --data $(DEMO_DIR) demo

test: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest -q

bench: venv
	$(VENV)/bin/python -m bench.run_all

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache .mypy_cache .ruff_cache
