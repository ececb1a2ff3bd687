"""The dashboard in a real headless Chromium: no console errors, the numbers on each page
are its JSON twin's, tables filter and sort, and pages update live without reloading."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pushlift.report.numbers import fmt

from .process import Dashboard, wait_for

PAGES = ("overview", "vendors", "offers", "map", "experiments", "mall", "engagement",
         "definitions")
TIMEOUT_MS = 120_000  # the mall analysis can take a while on a loaded 2-core machine


class Tab:
    """A browser page that records console errors and uncaught exceptions."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.errors: list[str] = []
        page.set_default_timeout(TIMEOUT_MS)
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))

    def open(self, url: str) -> None:
        response = self.page.goto(url, wait_until="load", timeout=TIMEOUT_MS)
        assert response is not None and response.ok, url

    def numbers(self) -> list[dict[str, str]]:
        """Every number on the page: its JSON path, unit, exact value and text."""
        return self.page.eval_on_selector_all(
            "[data-key]",
            "els => els.map(e => ({key: e.dataset.key, unit: e.dataset.unit, "
            "value: e.dataset.value, text: e.textContent}))",
        )


@pytest.fixture
def tab(browser: Any) -> Iterator[Tab]:
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    t = Tab(context.new_page())
    try:
        yield t
    finally:
        context.close()
    assert t.errors == [], t.errors


def resolve(data: Any, path: str) -> Any:
    for part in path.split("."):
        data = data[int(part)] if isinstance(data, list) else data[part]
    return data


def assert_numbers_match(numbers: list[dict[str, str]], twin: dict[str, Any]) -> None:
    for n in numbers:
        value = resolve(twin, n["key"])
        assert json.loads(n["value"]) == value, n
        assert n["text"] == fmt(value, n["unit"]), (n, value)


@pytest.mark.parametrize("name", PAGES)
def test_page_loads_and_shows_its_twins_numbers(tab: Tab, dashboard: Dashboard, name: str) -> None:
    tab.open(f"{dashboard.url}/{name}")
    twin = dashboard.get(f"/api/{name}")
    numbers = tab.numbers()
    if name != "definitions":
        assert len(numbers) >= 5, name
    assert_numbers_match(numbers, twin)
    assert tab.page.locator(".warn.empty").count() == 0
    # Let the live-refresh loop run a few polls: it must not raise anything either.
    live = tab.page.locator("#live-status")
    version = dashboard.get("/api/version")["version"]
    assert live.get_attribute("data-version") == version
    tab.page.wait_for_function("() => performance.getEntriesByType('resource').filter("
                               "e => e.name.includes('/api/version')).length >= 2")  # fmt: skip


def test_kpi_tiles_carry_their_definitions(tab: Tab, dashboard: Dashboard) -> None:
    tab.open(f"{dashboard.url}/overview")
    twin = dashboard.get("/api/overview")
    for kpi in twin["kpis"]:
        tile = tab.page.locator(f'.tile[data-kpi="{kpi["name"]}"]')
        assert tile.locator(".label").text_content() == kpi["label"]
        assert tile.locator(".def").text_content() == kpi["definition"]
        if kpi["ci_low"] is not None:
            unit = kpi["unit"]
            expected = f"95% CI {fmt(kpi['ci_low'], unit)} to {fmt(kpi['ci_high'], unit)}"
            assert tile.locator(".ci").text_content().strip() == expected


def _visible_column(tab: Tab, table: str, col: int) -> list[Any]:
    return tab.page.eval_on_selector_all(
        f"#{table} tbody tr:not([hidden])",
        f"rows => rows.map(r => JSON.parse(r.cells[{col}].dataset.value))",
    )


def test_vendor_table_filters(tab: Tab, dashboard: Dashboard) -> None:
    tab.open(f"{dashboard.url}/vendors")
    rows = dashboard.get("/api/vendors")["rows"]
    category = next(r["category"] for r in rows if r.get("category"))
    tab.page.fill('input[data-filter="vendors-table"]', category.upper())
    expected = sorted(
        r["key"] for r in rows
        if any(category in str(r.get(f) or "").lower() for f in ("key", "name", "category"))
    )  # fmt: skip
    assert 0 < len(expected) < len(rows)
    assert sorted(_visible_column(tab, "vendors-table", 0)) == expected
    assert tab.page.locator('[data-shown="vendors-table"]').text_content() == str(len(expected))
    tab.page.fill('input[data-filter="vendors-table"]', "")
    assert len(_visible_column(tab, "vendors-table", 0)) == len(rows)


def test_offer_table_sorts(tab: Tab, dashboard: Dashboard) -> None:
    tab.open(f"{dashboard.url}/offers")
    n = len(dashboard.get("/api/offers")["rows"])
    header = tab.page.locator("#offers-table th", has_text="conversions").first
    col = int(header.get_attribute("data-col"))
    header.click()  # numbers: largest first
    assert header.get_attribute("aria-sort") == "descending"
    values = _visible_column(tab, "offers-table", col)
    assert len(values) == n and values == sorted(values, reverse=True)
    header.click()
    values = _visible_column(tab, "offers-table", col)
    assert values == sorted(values) and header.get_attribute("aria-sort") == "ascending"
    # A column with blanks (no holdout, no interval) keeps them last either way.
    inc = tab.page.locator("#offers-table th", has_text="incremental conversion").first
    inc.click()
    values = _visible_column(tab, "offers-table", int(inc.get_attribute("data-col")))
    known = [v for v in values if v is not None]
    assert values == known + [None] * (len(values) - len(known))
    assert known == sorted(known, reverse=True)
    # Filtering keeps the order.
    tab.page.fill('input[data-filter="offers-table"]', "food")
    shown = _visible_column(tab, "offers-table", int(inc.get_attribute("data-col")))
    assert [v for v in shown if v is not None] == sorted(
        [v for v in shown if v is not None], reverse=True
    )


CONFIG = """\
timezone: UTC
vendors: [{id: cafe, name: Corner Cafe, category: coffee}]
zones: [{id: plaza, circle: {lat: 40.4168, lon: -3.7038, radius_m: 250}}]
offers:
  - {id: espresso, vendor: cafe, content: "2-for-1 espresso", zone: plaza, max_bid_cents: 40}
experiments:
  - id: cafe-holdout
    arms: [{name: control, weight: 0.5, holdout: true}, {name: treatment, weight: 0.5}]
"""


def _at(hour: int, i: int) -> str:
    """The i-th time of an hour, 20 seconds apart (streams arrive in event-time order)."""
    return f"2026-03-02T{hour:02d}:{i // 3:02d}:{i % 3 * 20:02d}Z"


def _events(first: int, subscribers: range, hour: int) -> list[str]:
    """A ping in the plaza for each subscriber, and a purchase at the cafe by every third."""
    lines, event_id = [], first
    for i, s in enumerate(subscribers):
        t = _at(hour, i)
        ping = {"event_id": event_id, "kind": "location", "subscriber_id": s, "time": t,
                "lat": 40.4168, "lon": -3.7038}  # fmt: skip
        lines.append(json.dumps(ping))
        event_id += 1
    for i, s in enumerate(subscribers):
        if s % 3 == 0:
            t = _at(hour + 1, i)
            buy = {"event_id": event_id, "kind": "purchase", "subscriber_id": s, "time": t,
                   "vendor_id": "cafe", "amount_cents": 450}  # fmt: skip
            lines.append(json.dumps(buy))
            event_id += 1
    return lines


def _page_caught_up(tab: Tab, app: Dashboard, events: int) -> dict[str, Any]:
    """Wait until the engine stored `events` and the page shows that data version."""
    # The engine stores a batch, then reports its progress: wait for both.
    status = wait_for(
        lambda: (
            (v := app.get("/api/version"))["counts"]["events"] == events
            and v["follow"]["events_read"] == events
            and v
        ),
        timeout=TIMEOUT_MS / 1000,  # the engine's first batch compiles its kernels
        what=f"{events} events stored",
    )
    tab.page.wait_for_function(
        "v => document.getElementById('live-status').dataset.version === v", arg=status["version"]
    )
    return status


def test_pages_update_live_while_the_engine_runs(tab: Tab, tmp_path: Path) -> None:
    config = tmp_path / "engine.yaml"
    config.write_text(CONFIG)
    db = tmp_path / "live.duckdb"
    app = Dashboard(db, "--config", config, "--follow", "-", log=tmp_path / "live.log")
    try:
        tab.open(f"{app.url}/overview")
        assert "No engine data yet" in tab.page.locator(".warn.empty").text_content()
        tab.page.evaluate("window.__sameDocument = true")
        sent, total = [], 0
        # Two parts of the stream: 60 subscribers in the morning, 120 more at noon.
        for first, people, hour in ((1, range(1, 61), 9), (1001, range(61, 181), 12)):
            lines = _events(first, people, hour)
            app.send(lines)
            total += len(lines)
            status = _page_caught_up(tab, app, total)
            assert status["follow"]["running"] and status["follow"]["events_read"] == total
            twin = app.get("/api/overview")
            assert twin["empty"] is None
            assert_numbers_match(tab.numbers(), twin)
            tile = tab.page.locator('.tile[data-kpi="notifications"] .value')
            sent.append(next(k for k in twin["kpis"] if k["name"] == "notifications")["value"])
            assert tile.text_content() == fmt(sent[-1])
            assert tab.page.evaluate("window.__sameDocument") is True  # updated, not reloaded
        assert 0 < sent[0] < sent[1]
        assert "followed" not in tab.page.locator("#live-status").text_content()
    finally:
        app.stop()
