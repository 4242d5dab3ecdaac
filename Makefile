# Two entry points: `make demo` runs eseal on the embedded SQLite default,
# `make test` runs the whole test suite. Both create their own venv.
# The interpreter the venv is made from: Debian's python3 where it is 3.11 or later (as
# pyproject.toml requires) with venv and ensurepip, else the python3 on PATH. Debian's is an
# optimised build with libpython linked in; a source build on a shared libpython (pyenv's)
# runs eseal's Python parts markedly slower (BENCHMARKS.md, offline verification). An older
# one would make a venv that uv replaces with another interpreter, the uv in it lost, so
# that every make would make the venv again. `make venv PYTHON=…` picks another; remove
# .venv to change it.
SYSTEM_PYTHON := /usr/bin/python3
PYTHON ?= $(shell $(SYSTEM_PYTHON) -c \
	'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1 && \
	echo $(SYSTEM_PYTHON) || echo python3)
VENV := .venv
UV := $(VENV)/bin/uv
UV_VERSION := 0.13.8
export UV_PROJECT_ENVIRONMENT := $(abspath $(VENV))
DEMO_DIR ?= demo-data

# System packages from Debian, installed with apt-get (sudo unless root) when missing:
# a CJK font that printed licenses embed (fonts-wqy-microhei; not needed when
# ESEAL_CJK_FONT names another) and the fonts for the rarer characters it lacks, such as
# those of CJK extension B (fonts-hanazono), for the demo and the tests, and Chromium for the window
# page's browser tests only.
CJK_FONT := /usr/share/fonts/truetype/wqy/wqy-microhei.ttc
FALLBACK_FONT := /usr/share/fonts/truetype/hanazono/HanaMinB.ttf
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# apt-get install PACKAGES, updating the package lists first only if that fails.
APT_INSTALL = $(SUDO) apt-get install -y -q $(1) >/dev/null 2>&1 || \
	{ $(SUDO) apt-get update -q >/dev/null && $(SUDO) apt-get install -y -q $(1) >/dev/null; }

.PHONY: demo test lint bench clean venv font chromium

$(UV):
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet uv==$(UV_VERSION)

# Bytecode is compiled at install: where PYTHONDONTWRITEBYTECODE is set (this project's
# machines set it), every eseal command would otherwise compile its libraries from source
# at each start (5 s a start instead of 2, measured).
$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --quiet --compile-bytecode
	touch $@

venv: $(VENV)/.synced

font:
	@if [ -z "$$ESEAL_CJK_FONT" ] && [ ! -f $(CJK_FONT) ]; then \
	  echo "installing the Debian package fonts-wqy-microhei"; \
	  $(call APT_INSTALL,fonts-wqy-microhei); \
	fi
	@if [ ! -f $(FALLBACK_FONT) ]; then \
	  echo "installing the Debian package fonts-hanazono"; \
	  $(call APT_INSTALL,fonts-hanazono); \
	fi

chromium:
	@if [ ! -x $(CHROMIUM) ]; then \
	  echo "installing the Debian package chromium"; \
	  $(call APT_INSTALL,chromium); \
	fi

demo: venv font
	ESEAL_PASSPHRASE=$${ESEAL_PASSPHRASE:-demo-passphrase} $(VENV)/bin/eseal --data $(DEMO_DIR) demo

test: venv font chromium
	$(VENV)/bin/python -m compileall -q eseal keys ledger verifier tests bench fuzz >/dev/null
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest -q

bench: venv font
	$(VENV)/bin/python -m bench.run_all

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache .mypy_cache .ruff_cache
