"""Running the suite on several pytest-xdist workers (`./test.sh` passes `-n 2 --dist loadgroup`).

Each worker is its own process with its own session fixtures (template databases, the demo
site, rule sets); databases, OpenSearch prefixes and Redis keys are already named per test
(uuid), Redis gets a database per worker (tests/services.py), ports are free ports.
What is left to the scheduler:

- With `--dist loadgroup` a test without a group is scheduled on its own, so a module's
  expensive `scope="module"`/`"class"` fixtures would be built on every worker. A test that uses
  one is put in its module's group: the module then runs on one worker, in file order, and its
  fixtures are built once.
- Tests that use the session `demo_site` server share one group, so one worker starts it.
- A test marked `alone` (it stops a shared service, e.g. tests/store/test_outage.py stops
  OpenSearch) takes an exclusive lock; every other test holds the same lock shared, so while
  it runs no test runs on another worker. Without xdist this does nothing.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Generator
from pathlib import Path

import pytest

SHARED_SCOPES = {"module", "class", "package"}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "alone: stops a shared service; under xdist no other test runs meanwhile"
    )


def _group(item: pytest.Item) -> str | None:
    fixturenames: list[str] = getattr(item, "fixturenames", [])
    if "demo_site" in fixturenames:
        return "demo_site"
    info = getattr(item, "_fixtureinfo", None)
    defs = info.name2fixturedefs if info is not None else {}
    for name in fixturenames:
        chain = defs.get(name)
        if chain and chain[-1].scope in SHARED_SCOPES:
            return item.nodeid.split("::", 1)[0]
    return None


@pytest.hookimpl(tryfirst=True)  # before xdist reads the xdist_group marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("dist", "no") != "loadgroup":
        return
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            group = _group(item)
            if group is not None:
                item.add_marker(pytest.mark.xdist_group(group))


def _lock_path() -> Path | None:
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if not run or not os.environ.get("PYTEST_XDIST_WORKER"):
        return None
    return Path(tempfile.gettempdir()) / f"soc-pytest-{run}.lock"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, object, object]:
    """Setup, call and teardown (module fixtures included) under the run's lock."""
    path = _lock_path()
    if path is None:
        return (yield)
    with path.open("a") as lock:
        alone = item.get_closest_marker("alone") is not None
        fcntl.flock(lock, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        return (yield)
