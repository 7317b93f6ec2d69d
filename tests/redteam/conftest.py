"""Fixtures for the red-team suite: the integration harness (tests/integration/harness.py)."""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
for directory in (str(REPO), str(REPO / "tests" / "integration")):
    if directory not in sys.path:
        sys.path.insert(0, directory)

from harness import box, fixture_store, nixos_etc, test_user  # noqa: E402
from netlab import lab  # noqa: E402

__all__ = ["box", "fixture_store", "lab", "nixos_etc", "test_user"]


def pytest_collection_modifyitems(items):
    for item in items:
        if "redteam" in item.nodeid.split("::")[0]:
            item.add_marker("integration")
