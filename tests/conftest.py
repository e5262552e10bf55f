"""Suite-wide rules: every test is marked unit, spark or integration (an unmarked test is an error)."""

from __future__ import annotations

import pytest

KINDS = ("unit", "spark", "integration")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    unmarked = [item.nodeid for item in items if not any(item.get_closest_marker(k) for k in KINDS)]
    if unmarked:
        raise pytest.UsageError(
            f"tests without one of the markers {KINDS} (add pytestmark = pytest.mark.<kind>):\n  "
            + "\n  ".join(unmarked)
        )
