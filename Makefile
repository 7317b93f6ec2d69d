# claudebox developer entry points. CI (.ci/run) runs `make lint` and `make test`.
PYTHON ?= $(if $(wildcard .venv/bin/python),.venv/bin/python,python3)
SHELL_SCRIPTS := $(wildcard .ci/run bench/*.sh)

.PHONY: all test lint build clean

all: lint test

SETUP_HINT := on Debian run \`sudo bash .ci/run\` (installs bubblewrap, pasta, busybox, a test user and .venv, then tests), or create .venv with: python3 -m venv .venv; .venv/bin/pip install -r requirements-dev.txt

test:
	@$(PYTHON) -c 'import pytest' 2>/dev/null || { echo "make test: pytest is missing; $(SETUP_HINT)" >&2; exit 2; }
	$(PYTHON) -m pytest -q tests

lint:
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .
	$(PYTHON) -m mypy claudebox.py build.py
	shellcheck $(SHELL_SCRIPTS)
	nix-instantiate --parse flake.nix >/dev/null

build:
	$(PYTHON) build.py

clean:
	rm -rf dist build .pytest_cache .mypy_cache .ruff_cache __pycache__ tests/__pycache__ *.egg-info
