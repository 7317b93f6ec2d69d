"""Fixtures for the integration tests (the harness itself lives in harness.py)."""

from harness import box, fixture_store, mark_integration, nixos_etc, test_user
from netlab import lab
from nixlab import nix_daemon, nixlab

__all__ = ["box", "fixture_store", "lab", "nix_daemon", "nixlab", "nixos_etc", "test_user"]


def pytest_collection_modifyitems(items):
    mark_integration(items)
