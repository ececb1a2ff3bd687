"""On the closed-loop city, the incremental KPIs' intervals cover the simulator's truth."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pushlift.analysis.kpis import KpiReport, kpi_report
from pushlift.cli import app
from pushlift.sim.city import simulate_city
from pushlift.store import Store


@pytest.fixture(scope="module")
def city_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("city") / "city.duckdb"
    store = Store.open(path)
    simulate_city(store, 4000, 3, seed=11)
    store.close()
    return path


@pytest.fixture(scope="module")
def city(city_db: Path) -> tuple[Store, KpiReport]:
    store = Store.open(city_db)
    report = kpi_report(store)
    store.con.execute("CHECKPOINT")
    return store, report


def truth(store: Store, outcome: str) -> float:
    control, treated = store.con.execute(
        "SELECT control_mean, treatment_mean FROM true_effect "
        "WHERE experiment_id = 'city-holdout' AND outcome = ? AND segment = 'all'",
        [outcome],
    ).fetchall()[0]
    return treated - control


def test_incremental_conversion_interval_covers_the_true_lift(
    city: tuple[Store, KpiReport],
) -> None:
    store, report = city
    inc = report.kpi("incremental_conversion")
    true_lift = truth(store, "conversion_24h")
    assert inc.ci_low < true_lift < inc.ci_high
    # Not vacuous: the interval is narrow next to the effect.
    assert inc.ci_high - inc.ci_low < true_lift / 2


def test_incremental_revenue_interval_covers_the_true_lift(city: tuple[Store, KpiReport]) -> None:
    store, report = city
    inc = report.kpi("incremental_revenue_cents")
    sent = report.kpi("notifications").value
    per_note = (inc.value / sent, inc.ci_low / sent, inc.ci_high / sent)
    assert per_note[1] < truth(store, "revenue_24h_cents") < per_note[2]


def test_holdout_conversion_is_the_base_rate(city: tuple[Store, KpiReport]) -> None:
    store, report = city
    control = store.con.execute(
        "SELECT control_mean FROM true_effect WHERE experiment_id = 'city-holdout' "
        "AND outcome = 'conversion_24h'"
    ).fetchall()[0][0]
    held = report.kpi("holdout_conversion_rate")
    assert held.ci_low < control < held.ci_high


def test_cli_json_and_report_carry_the_same_numbers(city_db: Path, tmp_path: Path) -> None:
    store = Store.open(city_db)
    want = kpi_report(store, window_hours=12, touch="first").to_dict()
    store.close()
    html = tmp_path / "kpis.html"
    args = ["analyze", "kpis", "--db", str(city_db), "--window-hours", "12", "--touch", "first"]
    result = CliRunner().invoke(app, [*args, "--json", "--report", str(html)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == json.loads(json.dumps(want))
    page = html.read_text()
    conversions = want["overall"]["conversions"]["value"]
    assert f"<td>Conversions</td><td>{conversions:,}</td>" in page
    assert "<script" not in page


def test_cli_refuses_a_bad_touch_or_a_missing_store(tmp_path: Path) -> None:
    bad = CliRunner().invoke(app, ["analyze", "kpis", "--db", str(tmp_path / "x.duckdb")])
    assert bad.exit_code == 2 and "no store at" in bad.output
    touch = CliRunner().invoke(app, ["analyze", "kpis", "--touch", "middle"])
    assert touch.exit_code == 2 and "--touch must be last or first" in touch.output
