"""The JSON twins, over HTTP from a real dashboard process, against independent answers."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import scipy.stats as sps

from pushlift.analysis.attribution import attribute
from pushlift.analysis.kpis import kpi_report
from pushlift.analysis.results import to_jsonable
from pushlift.store import Store

from .process import Dashboard

PAGES = ("overview", "vendors", "offers", "map", "experiments", "mall", "engagement", "definitions")


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
    assert data["tuning"] == 5000
    for e in data["effects"]:
        assert e["ci_low"] < e["effect"] < e["ci_high"]
        assert e["true_effect"] is not None  # a simulation carries its truth
        # Always valid: wider than the fixed-horizon interval, around the same estimate.
        assert e["always_valid_low"] < e["ci_low"] and e["ci_high"] < e["always_valid_high"]
        assert e["no_estimate_reason"] is None
    missing = dashboard.client.get("/api/mall?experiment=nope")
    assert missing.status_code == 404 and "nope" in missing.json()["error"]


def _looks_by_hand(filled_store: Path, tmp_path: Path, tuning: int) -> list[dict]:
    """The city experiment look by look from its attributed notifications, computed here:
    per-subscriber sums before each hour's end, the delta-method variance of conversions
    per notification in each arm, Welch's t and the confidence sequence (Waudby-Smith et
    al. 2023, eq. 9)."""
    copy = tmp_path / "looks.duckdb"
    shutil.copy(filled_store, copy)
    store = Store.open(copy)
    try:
        attribute(store.con)
        rows = store.con.execute(
            "SELECT consumer_id, delivered, epoch_us(event_time) AS t, converted "
            "FROM attributed_notification WHERE experiment_id = 'city-holdout'"
        ).fetchnumpy()
    finally:
        store.close()
    hour = 3_600_000_000
    out = []
    for until in np.unique((rows["t"] // hour + 1) * hour):
        arms = {}
        for delivered in (False, True):
            keep = (rows["t"] < until) & (rows["delivered"] == delivered)
            ids, who = np.unique(rows["consumer_id"][keep], return_inverse=True)
            notes = np.bincount(who, minlength=len(ids)).astype(float)
            conv = np.bincount(
                who, weights=rows["converted"][keep].astype(float), minlength=len(ids)
            )
            r = conv.sum() / notes.sum()
            residual_var = np.var(conv - r * notes, ddof=1) / notes.mean() ** 2
            arms[delivered] = (len(ids), r, residual_var / len(ids), notes.sum())
        (n0, r0, v0, held), (n1, r1, v1, sent) = arms[False], arms[True]
        est, var, n = r1 - r0, v0 + v1, n0 + n1
        dof = var**2 / (v0**2 / (n0 - 1) + v1**2 / (n1 - 1))
        t_half = sps.t.ppf(0.975, dof) * np.sqrt(var)
        rho2 = (-2 * np.log(0.05) + np.log(-2 * np.log(0.05) + 1)) / tuning
        half = np.sqrt(var * n * 2 * (n * rho2 + 1) / (n**2 * rho2)
                       * np.log(np.sqrt(n * rho2 + 1) / 0.05))  # fmt: skip
        out.append({"until_us": int(until), "subscribers": n, "delivered": sent,
                    "held_out": held, "effect": est, "ci_low": est - t_half,
                    "ci_high": est + t_half, "always_valid_low": est - half,
                    "always_valid_high": est + half})  # fmt: skip
    return out


@pytest.mark.parametrize("tuning", [None, 400])
def test_experiments_page_matches_a_hand_computation(
    dashboard: Dashboard, filled_store: Path, tmp_path: Path, tuning: int | None
) -> None:
    query = f"?tuning={tuning}" if tuning else ""
    data = dashboard.get(f"/api/experiments{query}")
    assert data["tuning"] == (tuning or 5000)
    experiments = {e["experiment_id"]: e for e in data["experiments"]}
    assert set(experiments) == {"city-holdout", "mall-2019-10"}
    assert experiments["mall-2019-10"]["bucket"] == "day"  # a week: looked at daily
    experiment = experiments["city-holdout"]
    assert experiment["bucket"] == "hour"  # two days: hourly
    want = _looks_by_hand(filled_store, tmp_path, tuning or 5000)
    got = experiment["looks"]
    assert len(got) == len(want) > 10
    for g, w in zip(got, want, strict=True):
        until = datetime.strptime(g["until"], "%Y-%m-%d %H:%M UTC").replace(tzinfo=UTC)
        assert int(until.timestamp()) * 1_000_000 == w.pop("until_us")
        for name, value in w.items():
            assert g[name] == pytest.approx(value, rel=1e-9), (g["until"], name)
        # Looking every hour costs width: the always-valid interval contains the fixed one.
        assert g["always_valid_low"] < g["ci_low"] and g["ci_high"] < g["always_valid_high"]
    assert experiment["conclusion"].startswith(f"As of {got[-1]['until']}, delivery")
    bad = dashboard.client.get("/api/experiments?tuning=0")
    assert bad.status_code == 404 and "tuning must be" in bad.json()["error"]


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


@pytest.mark.parametrize("page", PAGES)
def test_every_table_downloads_as_csv_equal_to_its_twin(dashboard: Dashboard, page: str) -> None:
    import csv
    import io

    from pushlift.web.csv_tables import FORMULA_STARTS, tables

    twin = dashboard.get(f"/api/{page}")
    found = tables(twin)
    if not found:
        missing = dashboard.client.get(f"/api/{page}.csv")
        assert missing.status_code == 404 and "no table" in missing.json()["error"]
        return
    for name, rows in found.items():
        got = dashboard.client.get(f"/api/{page}.csv", params={"table": name})
        assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
        assert f'filename="{page}-{name}.csv"' in got.headers["content-disposition"]
        parsed = list(csv.DictReader(io.StringIO(got.text)))
        assert len(parsed) == len(rows), name
        for want, row in zip(rows, parsed, strict=True):
            for key, value in want.items():
                shown = "" if value is None else ("true" if value is True else "false")
                if not isinstance(value, bool | type(None)):
                    shown = repr(value) if isinstance(value, float) else str(value)
                if isinstance(value, str) and value[:1] in FORMULA_STARTS:
                    shown = "'" + value
                assert row[key] == shown, (name, key)
                if isinstance(value, float):
                    assert float(row[key]) == value  # exact: the twin's number
    unknown = dashboard.client.get(f"/api/{page}.csv", params={"table": "nope"})
    assert unknown.status_code == 404 and "its tables:" in unknown.json()["error"]


def test_grid_tables_link_their_csv(dashboard: Dashboard) -> None:
    html = dashboard.client.get("/vendors").text
    assert '<a class="csv" href="/api/vendors.csv?table=rows" download>CSV</a>' in html
    html = dashboard.client.get("/overview").text
    assert 'href="/api/overview.csv?table=hour"' in html
