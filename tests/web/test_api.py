"""The JSON twins, over HTTP from a real dashboard process, against independent answers."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pushlift.analysis.kpis import kpi_report
from pushlift.analysis.results import to_jsonable
from pushlift.store import Store

from .process import Dashboard

PAGES = ("overview", "vendors", "offers", "map", "mall", "engagement", "definitions")


def _independent_kpis(filled_store: Path, tmp_path: Path) -> dict:
    """The KPI report computed in this process, on a copy (the server owns the file)."""
    copy = tmp_path / "copy.duckdb"
    shutil.copy(filled_store, copy)
    store = Store.open(copy)
    try:
        return to_jsonable(kpi_report(store).to_dict())
    finally:
        store.close()


def test_health_version_and_index(dashboard: Dashboard) -> None:
    assert dashboard.get("/api/health") == {"ok": True}
    v = dashboard.get("/api/version")
    assert v["counts"]["events"] > 0 and v["counts"]["notifications"] > 0
    assert v["follow"] is None
    assert dashboard.get("/api/version")["version"] == v["version"]  # stable without writes
    assert set(dashboard.get("/api")["pages"]) == {f"/api/{p}" for p in PAGES}


@pytest.mark.parametrize("page", PAGES)
def test_every_page_and_twin_answer(dashboard: Dashboard, page: str) -> None:
    data = dashboard.get(f"/api/{page}")
    assert data["empty"] is None, data["empty"]
    assert not any(k.startswith("_") for k in data)  # HTML-only parts stay out of JSON
    html = dashboard.client.get(f"/{page}")
    assert html.status_code == 200
    assert f'href="/api/{page}"' in html.text


def test_overview_matches_kpi_report(
    dashboard: Dashboard, filled_store: Path, tmp_path: Path
) -> None:
    expected = _independent_kpis(filled_store, tmp_path)
    got = dashboard.get("/api/overview")
    tiles = {k["name"]: k for k in got["kpis"]}
    assert set(tiles) == set(expected["overall"])
    for name, kpi in expected["overall"].items():
        for field in ("value", "ci_low", "ci_high", "unit", "label"):
            assert tiles[name][field] == kpi[field], (name, field)
        assert tiles[name]["definition"] == expected["definitions"][name]
    assert got["trend"] == expected["trend"]
    assert got["funnel"] == expected["funnel"]
    assert got["hour"] == expected["breakdowns"]["hour"]


def test_vendor_and_offer_rows_match_kpi_report(
    dashboard: Dashboard, filled_store: Path, tmp_path: Path
) -> None:
    expected = _independent_kpis(filled_store, tmp_path)["breakdowns"]
    for page, dim in (("vendors", "vendor"), ("offers", "offer")):
        rows = dashboard.get(f"/api/{page}")["rows"]
        assert [r["key"] for r in rows] == [r["key"] for r in expected[dim]]
        for got, want in zip(rows, expected[dim], strict=True):
            assert {k: got[k] for k in want} == want
    vendors = dashboard.get("/api/vendors")["rows"]
    assert all(r["name"].startswith("Vendor ") for r in vendors if r["key"] != "mall")


def test_map_points_are_notifications_at_their_event(dashboard: Dashboard) -> None:
    data = dashboard.get("/api/map")
    assert data["zone_count"] == len(data["zones"]) == 20  # one zone per city vendor
    assert data["shown_points"] == len(data["points"]) == data["located_notifications"]
    sent = sum(p["delivered"] for p in data["points"])
    zone_sent = sum(z.get("notifications") or 0 for z in data["zones"])
    assert sent == zone_sent  # delivered dots = notifications sent in zones
    for z in data["zones"]:
        assert z["shape"] == "circle" and z["geometry"]["radius_m"] > 0


def test_mall_page_is_the_experiment_analysis(dashboard: Dashboard) -> None:
    data = dashboard.get("/api/mall")
    assert data["experiment_id"] == "mall-2019-10"
    assert data["n_units"] == 2000 == sum(a["units"] for a in data["arms"])
    outcomes = [e["outcome"] for e in data["effects"]]
    assert outcomes == ["from_second_store_sales", "made_second_purchase",
                        "sales_per_returning_buyer"]  # fmt: skip
    for e in data["effects"]:
        assert e["ci_low"] < e["effect"] < e["ci_high"]
        assert e["true_effect"] is not None  # a simulation carries its truth
    missing = dashboard.client.get("/api/mall?experiment=nope")
    assert missing.status_code == 404 and "nope" in missing.json()["error"]


def test_engagement_page(dashboard: Dashboard) -> None:
    data = dashboard.get("/api/engagement")
    assert data["dataset_id"] == "crm" and data["datasets"] == ["crm"]
    assert 0 < data["responders"] < data["customers"]
    n = {(g["group"], g["window"]): g["n"] for g in data["groups"]}
    assert n[("responded", 30)] == data["responders"]
    assert sum(v for (_, w), v in n.items() if w == 30) == data["customers"]
    methods = {c["method"] for c in data["comparisons"]}
    assert methods == {"difference in means", "regression adjusted", "inverse propensity weighted"}
    # Spend differences are dollars, purchase differences counts (the page formats by unit).
    units = {c["outcome"]: c["unit"] for c in data["comparisons"]}
    assert units == {"net_spend": "dollars", "purchases": "ratio"}


def test_definitions_cover_every_kpi(dashboard: Dashboard) -> None:
    from pushlift.analysis.kpi_definitions import DEFINITIONS

    kpis = dashboard.get("/api/definitions")["kpis"]
    assert {k["name"] for k in kpis} == set(DEFINITIONS)
    assert all(k["definition"] and "\n" not in k["definition"] for k in kpis)


def test_an_empty_store_says_what_to_run(tmp_path: Path) -> None:
    db = tmp_path / "empty.duckdb"
    Store.open(db).close()
    app = Dashboard(db, log=tmp_path / "empty.log")
    try:
        for page in PAGES:
            data = app.get(f"/api/{page}")
            if page == "definitions":
                assert data["empty"] is None
                continue
            assert "pushlift" in data["empty"], page  # names the command to run
            html = app.client.get(f"/{page}")
            assert html.status_code == 200 and 'class="warn empty"' in html.text
    finally:
        app.stop()
