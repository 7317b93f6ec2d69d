# claudebox developer entry points. CI (.ci/run) runs `make test` and `make lint`.
#
# make test     on Debian 12 as root (CI, or `sudo make test` once): installs what the tests need
#               (.ci/setup), then runs them all; otherwise says what is missing and runs what can
#               run (the integration tests skip without their prerequisites, fail under CI=true).
PYTHON ?= $(if $(wildcard .venv/bin/python),.venv/bin/python,python3)
SHELL_SCRIPTS := $(wildcard .ci/run .ci/setup bench/*.sh)

.PHONY: all test lint build clean setup pytest flake-check lint-only

all: lint test

# `make` evaluates PYTHON once per run: the suites run in a second make, after .venv exists.
test: setup
	@$(MAKE) --no-print-directory pytest

lint: setup
	@$(MAKE) --no-print-directory lint-only

# The flake's own `nix flake check` (and its package, `nix fmt`) with Debian's nix against the
# stand-in nixpkgs (tests/nix); `make test` runs it too.
flake-check: setup
	@$(MAKE) --no-print-directory pytest PYTEST_ARGS=tests/integration/test_flake.py

setup:
	@if [ "$$(id -u)" = 0 ] && [ -r /etc/debian_version ] && command -v apt-get >/dev/null; then \
		bash .ci/setup; \
	else \
		bash .ci/setup --check; \
	fi

PYTEST_ARGS ?= tests
pytest:
	@$(PYTHON) -c 'import pytest' 2>/dev/null || { echo "make: pytest is missing: run \`sudo make test\` on Debian 12, or \`nix develop -c make test\` on NixOS" >&2; exit 2; }
	$(PYTHON) -m pytest -q $(PYTEST_ARGS)

lint-only:
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .
	$(PYTHON) -m mypy claudebox.py build.py
	shellcheck $(SHELL_SCRIPTS)
	nix-instantiate --parse flake.nix >/dev/null
	for file in tests/nix/*/*.nix; do nix-instantiate --parse "$$file" >/dev/null || exit 1; done

build:
	$(PYTHON) build.py

clean:
	rm -rf dist build .pytest_cache .mypy_cache .ruff_cache __pycache__ tests/__pycache__ *.egg-info
