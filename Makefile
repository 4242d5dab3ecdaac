# Two entry points: `make demo` runs eseal on the embedded SQLite default,
# `make test` runs the whole test suite. Both create their own venv.
PYTHON ?= python3
VENV := .venv
UV := $(VENV)/bin/uv
UV_VERSION := 0.13.8
export UV_PROJECT_ENVIRONMENT := $(abspath $(VENV))
DEMO_DIR ?= demo-data

# System packages the project needs from Debian, installed once with apt-get when missing:
# a CJK font that printed licenses embed (fonts-wqy-microhei), and Chromium for the
# window page's browser tests (chromium).
CJK_FONT := /usr/share/fonts/truetype/wqy/wqy-microhei.ttc
CHROMIUM := /usr/bin/chromium
DEB_PACKAGES := fonts-wqy-microhei chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test lint bench clean venv system-deps

$(UV):
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet uv==$(UV_VERSION)

# Bytecode is compiled at install: where PYTHONDONTWRITEBYTECODE is set (this project's
# machines set it), every eseal command would otherwise compile its libraries from source
# at each start (5 s a start instead of 2, measured).
$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --quiet --compile-bytecode
	touch $@

venv: $(VENV)/.synced system-deps

system-deps:
	@if [ ! -f $(CJK_FONT) ] || [ ! -x $(CHROMIUM) ]; then \
	  echo "installing Debian packages: $(DEB_PACKAGES)"; \
	  $(SUDO) apt-get install -y -q $(DEB_PACKAGES) >/dev/null 2>&1 || \
	  { $(SUDO) apt-get update -q >/dev/null && $(SUDO) apt-get install -y -q $(DEB_PACKAGES) >/dev/null; }; \
	fi

demo: venv
	ESEAL_PASSPHRASE=$${ESEAL_PASSPHRASE:-demo-passphrase} $(VENV)/bin/eseal --data $(DEMO_DIR) demo

test: venv
	$(VENV)/bin/python -m compileall -q eseal keys ledger verifier tests bench >/dev/null
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest -q

bench: venv
	$(VENV)/bin/python -m bench.run_all

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache .mypy_cache .ruff_cache
