"""`analyze experiment --pre-period Nd` (CUPED on the same metrics before exposure): the
simulated mall's consumers have a history (`mall_history`) whose behaviour predicts the
week's. The adjusted effect equals an independent statsmodels OLS (Lin's interacted design,
HC2) on pre-period covariates computed here from the raw history; the intervals narrow
far more than with demographics alone; bad uses are one message."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from typer.testing import CliRunner

from pushlift.cli import app

WEEK_START = pd.Timestamp("2019-10-01", tz="UTC")


@pytest.fixture(scope="module")
def mall_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("pre") / "mall.duckdb"
    done = CliRunner().invoke(app, ["simulate", "mall", "--consumers", "6000", "--db", str(db)])
    assert done.exit_code == 0, done.output
    return db


def analyse(db: Path, *extra: str) -> tuple[int, str]:
    done = CliRunner().invoke(app, ["analyze", "experiment", "--db", str(db), *extra])
    return done.exit_code, done.output


def units_by_hand(db: Path, tmp_path: Path, days: int) -> pd.DataFrame:
    copy = tmp_path / "copy.duckdb"
    shutil.copy(db, copy)
    con = duckdb.connect(str(copy), read_only=True)
    try:
        units = con.execute(
            "SELECT consumer_id, arm, age, female, high_loyalty, from_second_store_sales, "
            "made_second_purchase FROM mall_units ORDER BY consumer_id"
        ).df()
        history = con.execute(
            "SELECT consumer_id, store_seq, amount_cents, epoch_us(event_time) AS t "
            "FROM mall_history"
        ).df()
    finally:
        con.close()
    start_us = int(WEEK_START.value // 1000)
    window = history[(history.t < start_us) & (history.t >= start_us - days * 86_400_000_000)]
    further = window[window.store_seq >= 2]
    pre = further.groupby("consumer_id").amount_cents.sum() / 100
    units["pre_sales"] = units.consumer_id.map(pre).fillna(0.0)
    units["pre_bought"] = (units.pre_sales > 0).astype(int)
    return units


def lin_hc2(units: pd.DataFrame, outcome: str, covariates: list[str]) -> tuple[float, float]:
    t = (units.arm != "control").astype(float).to_numpy()
    x = units[covariates].astype(float)
    xc = (x - x.mean()).to_numpy()
    design = np.column_stack([np.ones(len(units)), t, xc, xc * t[:, None]])
    fit = sm.OLS(units[outcome].astype(float).to_numpy(), design).fit(cov_type="HC2")
    return float(fit.params[1]), float(fit.bse[1])


@pytest.mark.parametrize("days", [7, 28])
def test_adjustment_matches_an_independent_ols(mall_store: Path, tmp_path: Path, days: int) -> None:
    code, out = analyse(mall_store, "--pre-period", f"{days}d", "--json")
    assert code == 0, out
    result = json.loads(out)
    units = units_by_hand(mall_store, tmp_path, days)
    covariates = ["age", "female", "high_loyalty", "pre_sales", "pre_bought"]
    for o in result["outcomes"][:2]:  # the ratio outcome is not regression-adjusted
        adjusted = o["comparisons"][0]["adjusted"]
        assert adjusted["covariates"] == ["age", "gender", "loyalty", "pre-period sales",
                                          "pre-period second purchase"]  # fmt: skip
        estimate, se = lin_hc2(units, o["outcome"], covariates)
        assert adjusted["effect"]["estimate"] == pytest.approx(estimate, rel=1e-9)
        assert adjusted["effect"]["se"] == pytest.approx(se, rel=1e-8)
    notes = " ".join(result["data_notes"])
    assert f"in the {days} days before the experiment" in notes


def test_behaviour_predicts_behaviour_better_than_demographics(mall_store: Path) -> None:
    narrowing = {}
    for args in ((), ("--pre-period", "28d")):
        code, out = analyse(mall_store, *args, "--json")
        assert code == 0, out
        sales = json.loads(out)["outcomes"][0]["comparisons"][0]["adjusted"]
        narrowing[args] = sales["ci_narrowing"]
    assert narrowing[()] < 0.02  # demographics alone: about 1%
    assert narrowing[("--pre-period", "28d")] > 0.05
    code, text = analyse(mall_store, "--pre-period", "28d")
    assert "Pre-period (CUPED)" in " ".join(text.split())


def test_bad_uses_are_one_message(mall_store: Path, tmp_path: Path) -> None:
    for value in ("0d", "366d", "week", "-7d"):
        code, out = analyse(mall_store, "--pre-period", value)
        assert code == 2 and "--pre-period must be" in out and "Traceback" not in out, value
    table = tmp_path / "t.csv"
    table.write_text("arm,y\ncontrol,1\noffer,2\ncontrol,3\noffer,4\n")
    done = CliRunner().invoke(app, ["analyze", "experiment", "--table", str(table), "--arm",
                                    "arm", "--control", "control", "--outcome", "y",
                                    "--pre-period", "7d"])  # fmt: skip
    assert done.exit_code == 2 and "--covariate" in done.output
    bare = tmp_path / "bare.duckdb"
    shutil.copy(mall_store, bare)
    con = duckdb.connect(str(bare))
    con.execute("DELETE FROM mall_history")
    con.close()
    code, out = analyse(bare, "--pre-period", "7d")
    assert code == 2 and "no purchases of experiment" in " ".join(out.split())
    assert "Traceback" not in out
