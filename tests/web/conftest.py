"""Fixtures for the dashboard tests: a filled store, a running dashboard, a browser.

The store (city, mall and CRM data) is built once per test run and shared by xdist
workers under a file lock; each dashboard works on its own copy, since a DuckDB file
has one owner process.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from .process import CHROMIUM, CHROMIUM_ARGS, Dashboard, pushlift


def _build_store(path: Path) -> None:
    pushlift("simulate", "city", "--subscribers", "300", "--days", "2", "--db", path)
    pushlift("simulate", "mall", "--consumers", "2000", "--db", path)
    crm = path.parent / "crm"
    pushlift("simulate", "engagement", "--customers", "1500", "--out", crm)
    pushlift(
        "import", "crm", "--sales", crm / "sales.csv", "--messages", crm / "outbound.csv",
        "--db", path,
    )  # fmt: skip


@pytest.fixture(scope="session")
def filled_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with a 300-subscriber, 2-day city, a 2,000-consumer mall week and CRM data."""
    base = tmp_path_factory.getbasetemp()
    # xdist workers each have a base folder inside the run's: build beside them, once.
    shared = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "web-store"
    shared.mkdir(exist_ok=True)
    done = shared / "filled.duckdb"
    with (shared / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            building = shared / "building.duckdb"
            building.unlink(missing_ok=True)
            _build_store(building)
            building.rename(done)
    own = tmp_path_factory.mktemp("store") / "filled.duckdb"
    shutil.copy(done, own)
    return own


@pytest.fixture(scope="session")
def dashboard(filled_store: Path) -> Iterator[Dashboard]:
    """A dashboard serving the filled store (no engine running)."""
    app = Dashboard(filled_store, log=filled_store.with_suffix(".log"))
    try:
        yield app
    finally:
        app.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Headless Debian Chromium driven by Playwright (never Playwright's own builds)."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `python3 dev.py test` installs it (apt-get)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
