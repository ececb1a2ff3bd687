"""Hostile names and hosts: every id, name and text from the data is shown as text (in the
pages, in headless Chromium, and in the HTML reports), and only local Host names are served.

The store's engine config names its zone, vendor, offer, segment and experiment with HTML
payloads, an offer's content is a script, and the mall experiment and CRM dataset ids
(imported) carry payloads too; a second experiment and dataset have ids with URL syntax.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import duckdb
import httpx
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from pushlift.store import Store
from pushlift.web.app import create_app, local_hosts
from pushlift.web.charts import trend_svg
from pushlift.web.map_page import map_svg

from .process import Dashboard, pushlift
from .test_browser import PAGES, TIMEOUT_MS, Tab

IMG = '"><img src=x onerror=alert(1)>'
SCRIPT = "<script>alert(1)</script>"
ESCAPED_IMG = "&lt;img src=x onerror=alert(1)&gt;"


def bad(tag: str) -> str:
    """A name that breaks out of an attribute and a tag if written unescaped."""
    return f"{tag}{IMG}"


ZONE, POLYGON, VENDOR, CATEGORY = bad("zone"), bad("polygon"), bad("vendor"), bad("category")
OFFER, SEGMENT, EXPERIMENT, ARM = bad("offer"), bad("segment"), bad("exp"), bad("arm")
VENDOR_NAME, CONTENT = f"Cafe {SCRIPT}", f"2-for-1 {SCRIPT}"
MALL, DATASET = bad("mall"), bad("crm")
LINKY = "week 2 & 3 #b+c"  # a second experiment and dataset: its link must keep all of it

# What each page must show as text (the page's own data, not a guess).
SHOWN: dict[str, tuple[str, ...]] = {
    "overview": (),
    "vendors": (VENDOR, VENDOR_NAME, CATEGORY),
    "offers": (OFFER, VENDOR, CONTENT),
    "map": (ZONE, POLYGON),
    "experiments": (EXPERIMENT,),
    "mall": (MALL, LINKY),
    "engagement": (DATASET, LINKY),
    "definitions": (),
}

CONFIG = {
    "timezone": "UTC",
    "vendors": [{"id": VENDOR, "name": VENDOR_NAME, "category": CATEGORY}],
    "zones": [
        {"id": ZONE, "circle": {"lat": 40.4168, "lon": -3.7038, "radius_m": 250}},
        {"id": POLYGON, "polygon": [[40.42, -3.71], [40.43, -3.71], [40.43, -3.70]]},
    ],
    "segments": [{"id": SEGMENT, "kind": "in_zone", "zone": ZONE, "within": "1h"}],
    "offers": [
        {"id": OFFER, "vendor": VENDOR, "content": CONTENT, "zone": ZONE,
         "segments": [SEGMENT], "max_bid_cents": 40},
    ],
    "experiments": [
        {"id": EXPERIMENT, "arms": [{"name": bad("holdout"), "weight": 0.5, "holdout": True},
                                    {"name": ARM, "weight": 0.5}]},
    ],
}  # fmt: skip


def _events() -> list[dict[str, Any]]:
    """A ping in the zone for 60 subscribers, then a purchase at the vendor by every third."""

    def at(hour: int, s: int) -> str:
        return f"2026-03-02T{hour:02d}:{s // 3:02d}:{s % 3 * 20:02d}Z"

    pings = [
        {"kind": "location", "subscriber_id": s, "time": at(9, s), "lat": 40.4168, "lon": -3.7038}
        for s in range(1, 61)
    ]
    buys = [
        {"kind": "purchase", "subscriber_id": s, "time": at(10, s), "vendor_id": VENDOR,
         "amount_cents": 450}
        for s in range(1, 61, 3)
    ]  # fmt: skip
    return [{"event_id": i, **e} for i, e in enumerate(pings + buys, start=1)]


@pytest.fixture(scope="module")
def hostile_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store whose every name is a payload: engine data, two mall experiments, two CRM sets."""
    d = tmp_path_factory.mktemp("hostile")
    db = d / "hostile.duckdb"
    (d / "engine.json").write_text(json.dumps(CONFIG))
    (d / "events.ndjson").write_text("".join(json.dumps(e) + "\n" for e in _events()))
    pushlift("run", d / "events.ndjson", "--config", d / "engine.json", "--db", db)
    mall = d / "mall"
    pushlift("simulate", "mall", "--consumers", "1500", "--db", d / "sim.duckdb", "--export", mall)
    crm = d / "crm"
    pushlift("simulate", "engagement", "--customers", "1500", "--out", crm)
    for experiment in (MALL, LINKY):
        pushlift("import", "mall", mall / "consumer.csv", mall / "purchase.csv", "--db", db,
                 "--experiment", experiment)  # fmt: skip
    for dataset in (DATASET, LINKY):
        pushlift("import", "crm", "--sales", crm / "sales.csv", "--messages", crm / "outbound.csv",
                 "--db", db, "--dataset", dataset)  # fmt: skip
    return db


@pytest.fixture(scope="module")
def hostile_dashboard(hostile_store: Path) -> Iterator[Dashboard]:
    """`pushlift dashboard` on a copy of the hostile store, also answering dash.example."""
    own = hostile_store.with_name("served.duckdb")
    shutil.copy(hostile_store, own)
    app = Dashboard(own, "--allow-host", "dash.example", log=own.with_suffix(".log"))
    try:
        yield app
    finally:
        app.stop()


@pytest.fixture(scope="module")
def store(hostile_store: Path) -> Iterator[Store]:
    """The hostile store opened in this process (a copy: the dashboard owns its own)."""
    own = hostile_store.with_name("in-process.duckdb")
    shutil.copy(hostile_store, own)
    s = Store.open(own)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture(scope="module")
def client(store: Store) -> Iterator[TestClient]:
    with TestClient(create_app(store, warm=False)) as c:
        yield c


class Parsed(HTMLParser):
    """The elements and the text of an HTML page, as a browser's parser sees them."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def all_text(self) -> str:
        return "".join(self.text)


def assert_nothing_injected(html: str, shown: tuple[str, ...], scripts: int) -> Parsed:
    """No element or handler came from the data; each of `shown` appears as text."""
    parsed = Parsed(html)
    names = [t for t, _ in parsed.tags]
    assert "img" not in names
    sources = [a.get("src") for t, a in parsed.tags if t == "script"]
    assert sources == ["/static/dashboard.js"] * scripts
    handlers = [(t, k) for t, a in parsed.tags for k in a if k.startswith("on")]
    assert handlers == []
    text = parsed.all_text()
    for name in shown:
        assert name in text, name
    if any(IMG in name for name in shown):
        assert ESCAPED_IMG in html
    if any(SCRIPT in name for name in shown):
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    return parsed


# --- the pages' HTML, rendered in this process ---------------------------------------------


@pytest.mark.parametrize("name", PAGES)
def test_pages_show_hostile_names_as_text(client: TestClient, name: str) -> None:
    response = client.get(f"/{name}")
    assert response.status_code == 200
    assert client.get(f"/api/{name}").json()["empty"] is None
    assert_nothing_injected(response.text, SHOWN[name], scripts=1)


def test_map_zones_keep_their_ids_in_attributes_and_titles(client: TestClient) -> None:
    parsed = Parsed(client.get("/map").text)
    zones = [a for t, a in parsed.tags if a.get("class") == "zone"]
    assert sorted(a["data-zone"] for a in zones) == sorted([ZONE, POLYGON])
    assert f"zone {ZONE}: " in parsed.all_text() and f"zone {POLYGON}: 0 sent" in parsed.all_text()


def test_map_svg_escapes_zone_ids() -> None:
    data = {
        "zones": [
            {"key": ZONE, "shape": "circle", "notifications": 3,
             "geometry": {"lat": 40.0, "lon": -3.7, "radius_m": 100}},
            {"key": POLYGON, "shape": "polygon", "notifications": 0,
             "geometry": [[40.0, -3.7], [40.01, -3.7], [40.01, -3.69]]},
        ],
        "points": [{"lat": 40.0, "lon": -3.7, "delivered": True}],
    }  # fmt: skip
    svg = map_svg(data)
    parsed = Parsed(svg)
    assert "img" not in [t for t, _ in parsed.tags]
    assert [a["data-zone"] for t, a in parsed.tags if a.get("class") == "zone"] == [ZONE, POLYGON]
    assert f"zone {ZONE}: 3 sent" in parsed.all_text()


def test_trend_svg_escapes_days() -> None:
    day = {"day": f"2026-03-02{IMG}", "notifications": 2, "held_out": 1, "conversions": 1}
    parsed = Parsed(trend_svg([day]))
    assert "img" not in [t for t, _ in parsed.tags]
    assert f"2026-03-02{IMG}: 2 sent" in parsed.all_text()


@pytest.mark.parametrize(("page", "param"), [("mall", "experiment"), ("engagement", "dataset")])
def test_links_carry_the_whole_id(client: TestClient, page: str, param: str) -> None:
    parsed = Parsed(client.get(f"/{page}").text)
    links = [a.get("href") or "" for t, a in parsed.tags if t == "a"]
    hrefs = [h for h in links if f"?{param}=" in h]
    assert len(hrefs) == 2
    asked = sorted(parse_qs(urlsplit(h).query)[param][0] for h in hrefs)
    assert asked == sorted([MALL if page == "mall" else DATASET, LINKY])
    assert all(urlsplit(h).fragment == "" for h in hrefs)
    linky = next(h for h in hrefs if parse_qs(urlsplit(h).query)[param] == [LINKY])
    response = client.get(linky)
    assert response.status_code == 200
    assert f"<code>{LINKY.replace('&', '&amp;')}</code>" in response.text


def test_an_unknown_id_in_the_url_is_shown_as_text(client: TestClient) -> None:
    response = client.get("/mall", params={"experiment": SCRIPT})
    assert response.status_code == 404
    assert_nothing_injected(response.text, (SCRIPT,), scripts=0)


# --- the HTML reports ------------------------------------------------------------------------


def test_kpi_report_shows_hostile_names_as_text(store: Store) -> None:
    from pushlift.analysis.kpis import kpi_report
    from pushlift.report.kpis import render_kpi_report

    html = render_kpi_report(kpi_report(store))
    assert_nothing_injected(html, (ZONE, VENDOR, OFFER), scripts=0)  # zones that sent


def test_experiment_report_shows_the_experiment_id_as_text(store: Store) -> None:
    from pushlift.analysis.experiment import analyze_experiment
    from pushlift.analysis.mall import mall_spec
    from pushlift.report.html import render_report

    html = render_report(analyze_experiment(store.con, mall_spec(store, MALL)))
    assert_nothing_injected(html, (MALL,), scripts=0)


def test_engagement_report_shows_the_dataset_id_as_text(store: Store) -> None:
    from pushlift.analysis.engagement import analyze_engagement
    from pushlift.report.engagement import render_engagement_report

    html = render_engagement_report(analyze_engagement(store.con, dataset_id=DATASET))
    assert_nothing_injected(html, (DATASET,), scripts=0)


def test_table_report_with_hostile_arms_columns_and_values(tmp_path: Path) -> None:
    """Arm values, a segment column's name and its values from a CSV, in tables and charts
    (matplotlib draws them as text: a '$...$' value is not mathtext)."""
    from pushlift.analysis.experiment import analyze_experiment
    from pushlift.ingest.table import table_spec
    from pushlift.report.html import render_report

    rng = np.random.default_rng(3)
    n = 900
    region = bad("region")
    values = [SCRIPT, bad("south"), r"$\alert{1}$"]
    df = pd.DataFrame({
        "unit": np.arange(n), "arm": rng.choice(["A", ARM], n), region: rng.choice(values, n),
        "tenure": rng.integers(0, 20, n), "revenue": rng.exponential(5, n),
    })  # fmt: skip
    path = tmp_path / "hostile.csv"
    df.to_csv(path, index=False)
    con = duckdb.connect()
    spec = table_spec(con, path, arm="arm", control="A", outcomes=["revenue"],
                      covariates=["tenure", region], segments=[region])  # fmt: skip
    html = render_report(analyze_experiment(con, spec))
    assert_nothing_injected(html, (ARM, region, *values), scripts=0)


# --- in headless Chromium --------------------------------------------------------------------


@pytest.fixture
def watched(browser: Any) -> Iterator[tuple[Tab, list[str]]]:
    """A tab that also records (and dismisses) every dialog a script opens."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    tab = Tab(context.new_page())
    dialogs: list[str] = []

    def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    tab.page.on("dialog", on_dialog)
    try:
        yield tab, dialogs
    finally:
        context.close()
    assert tab.errors == [], tab.errors


def _assert_page_is_clean(tab: Tab, dialogs: list[str], shown: tuple[str, ...]) -> None:
    page = tab.page
    page.wait_for_timeout(300)  # a failed image load would have fired by now
    assert dialogs == []
    assert page.locator("img").count() == 0
    assert page.eval_on_selector_all("script", "s => s.map(e => e.getAttribute('src'))") == [
        "/static/dashboard.js"
    ]
    assert not page.evaluate(
        "() => [...document.querySelectorAll('*')].some("
        "e => [...e.attributes].some(a => a.name.startsWith('on')))"
    )
    text = page.locator("#page-body").inner_text()
    for name in shown:
        assert name in text, name


@pytest.mark.parametrize("name", PAGES)
def test_browser_runs_nothing_from_the_data(
    watched: tuple[Tab, list[str]], hostile_dashboard: Dashboard, name: str
) -> None:
    tab, dialogs = watched
    tab.open(f"{hostile_dashboard.url}/{name}")
    _assert_page_is_clean(tab, dialogs, SHOWN[name])
    if name == "map":
        zones = tab.page.eval_on_selector_all(
            "#map-figure .zone", "els => els.map(e => e.dataset.zone)"
        )
        assert sorted(zones) == sorted([ZONE, POLYGON])


@pytest.mark.parametrize(("page", "summary"), [
    ("mall", "#mall-summary code"), ("engagement", "#engagement-summary code"),
])  # fmt: skip
def test_browser_follows_a_link_with_url_syntax_in_its_id(
    watched: tuple[Tab, list[str]], hostile_dashboard: Dashboard, page: str, summary: str
) -> None:
    tab, dialogs = watched
    tab.open(f"{hostile_dashboard.url}/{page}")
    with tab.page.expect_navigation(timeout=TIMEOUT_MS):
        tab.page.get_by_role("link", name=LINKY, exact=True).click()
    assert tab.page.locator(summary).first.text_content() == LINKY
    _assert_page_is_clean(tab, dialogs, (LINKY,))


# --- the Host allow-list (DNS rebinding) -----------------------------------------------------


def test_dashboard_answers_only_local_and_allowed_hosts(hostile_dashboard: Dashboard) -> None:
    port = hostile_dashboard.port
    with httpx.Client(base_url=hostile_dashboard.url, timeout=120) as c:

        def status(host: str, path: str = "/api/version") -> int:
            return c.get(path, headers={"host": host}).status_code

        for host in ("evil.example", f"evil.example:{port}", f"127.0.0.1.evil.example:{port}",
                     f"localhost.evil.example:{port}", f"sub.dash.example:{port}", ""):  # fmt: skip
            assert status(host) == 400, host
            assert status(host, "/overview") == 400, host
        for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", "localhost",
                     f"LocalHost:{port}", f"dash.example:{port}"):  # fmt: skip
            assert status(host) == 200, host
            assert status(host, "/overview") == 200, host
        refused = c.get("/api/overview", headers={"host": f"evil.example:{port}"})
        assert refused.status_code == 400 and len(refused.text) < 100  # a short message


def test_create_app_checks_hosts_when_given_them(store: Store) -> None:
    app = create_app(store, warm=False, allowed_hosts=local_hosts("0.0.0.0", ["*.corp.example"]))
    with TestClient(app) as c:
        for host in ("localhost:8050", "127.0.0.1", "[::1]:1", "0.0.0.0:8050", "a.corp.example"):
            assert c.get("/api/health", headers={"host": host}).status_code == 200, host
        for host in ("testserver", "evil.example", "[::2]:8050", "127.0.0.2", "corp.example"):
            assert c.get("/api/health", headers={"host": host}).status_code == 400, host
    # No list: no check (what `pushlift serve`, which builds on create_app, still gets).
    with TestClient(create_app(store, warm=False)) as c:
        assert c.get("/api/health", headers={"host": "evil.example"}).status_code == 200


def test_local_hosts() -> None:
    assert local_hosts() == ["localhost", "127.0.0.1", "[::1]"]
    assert local_hosts("127.0.0.1") == ["localhost", "127.0.0.1", "[::1]"]
    assert local_hosts("::1", ["Dash.Example", "fe80::1"]) == [
        *("localhost", "127.0.0.1", "[::1]"), "dash.example", "[fe80::1]"
    ]  # fmt: skip
    assert local_hosts("0.0.0.0")[-1] == "0.0.0.0"
    for wrong in ("localhost:8050", "a*.example", "*example.com"):
        with pytest.raises(ValueError):
            local_hosts(extra=[wrong])
