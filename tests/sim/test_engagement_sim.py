"""The engagement simulator: determinism, the real exports' format, and a correct truth."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from pushlift.cli import app
from pushlift.sim import engagement
from pushlift.sim.engagement_files import write_files
from pushlift.sim.engagement_model import OUTCOMES

REAL = Path(__file__).resolve().parents[3] / "shared" / "data" / "mercaux"
ISO = re.compile(r"^\d{4}-\d{2}-\d{2} 00:00:00$")
DMY = re.compile(r"^\d{1,2}/\d{1,2}/\d{2} 00:00$")
STAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
NO_RETURN = {"1/1/00 00:00", "1/1/2000 0:00"}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    data = engagement.simulate(8000, 11, engagement.EngagementModel())
    return write_files(data, tmp_path_factory.mktemp("engagement"))


@pytest.fixture(scope="module")
def large() -> engagement.EngagementData:
    return engagement.simulate(300_000, 21, engagement.EngagementModel())


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    model = engagement.EngagementModel()
    a = write_files(engagement.simulate(2000, 4, model), tmp_path / "a")
    b = write_files(engagement.simulate(2000, 4, model), tmp_path / "b")
    c = write_files(engagement.simulate(2000, 5, model), tmp_path / "c")
    for name in a:
        assert a[name].read_bytes() == b[name].read_bytes(), name
    assert a["sales.csv"].read_bytes() != c["sales.csv"].read_bytes()


def _first_line(path: Path) -> bytes:
    return path.read_bytes().split(b"\n", 1)[0]


def _check_dates(sales: pd.DataFrame, outbound: pd.DataFrame) -> None:
    """Date layouts of the Mercaux exports; applied to the real files as well."""
    order_iso = sales["Order_Date"].str.match(ISO)
    assert (order_iso | sales["Order_Date"].str.match(DMY)).all()
    assert 0.2 < order_iso.mean() < 0.5  # both layouts, in proportions like the real file
    ret = sales["Return_Date"]
    assert (ret.str.match(DMY) | ret.isin(NO_RETURN)).all()
    assert outbound["date_of_communication"].str.match(STAMP).all()


def _parse_order(text: pd.Series) -> pd.Series:
    iso = text.str.match(ISO)
    out = pd.to_datetime(text.where(iso), format="%Y-%m-%d %H:%M:%S")
    return out.fillna(pd.to_datetime(text.where(~iso), format="%d/%m/%y %H:%M"))


def test_format_matches_the_real_exports(files: dict[str, Path]) -> None:
    for name in ("sales.csv", "outbound.csv"):
        assert _first_line(files[name]) == _first_line(REAL / name)
        assert files[name].read_bytes().count(b"\r\n") == files[name].read_bytes().count(b"\n")
    real_sales, real_out = pd.read_csv(REAL / "sales.csv"), pd.read_csv(REAL / "outbound.csv")
    sales, out = pd.read_csv(files["sales.csv"]), pd.read_csv(files["outbound.csv"])
    assert dict(sales.dtypes) == dict(real_sales.dtypes)
    assert dict(out.dtypes) == dict(real_out.dtypes)  # has_response read as bool
    _check_dates(real_sales, real_out)
    _check_dates(sales, out)

    order = _parse_order(sales["Order_Date"])
    assert order.min() >= pd.Timestamp("2023-01-01") and order.max() <= pd.Timestamp("2024-12-31")
    returned = ~sales["Return_Date"].isin(NO_RETURN)
    ret = pd.to_datetime(sales.loc[returned, "Return_Date"], format="%d/%m/%y %H:%M")
    assert (ret > order[returned]).all()
    # Returns are negative lines with a return date; every other line has none.
    amount = sales["Amount_Including_VAT"]
    assert (amount[returned].dropna() < 0).all() and (amount[~returned].dropna() >= 0).all()
    assert returned.mean() > 0.05

    # The messiness of the real file.
    assert sales.duplicated().sum() > 0.02 * len(sales)
    assert amount.isna().sum() > 0
    assert sales.groupby("transaction_id_encoded").size().max() > 1
    per_phone = sales.groupby("phone_encoded")["Customer_id_encoded"].nunique()
    junk = per_phone.idxmax()
    assert per_phone[junk] > 1000 and junk not in set(out["phone_encoded"])
    assert amount[sales["phone_encoded"] != junk].notna().all()  # blanks only on junk phone
    assert (sales["location_encoded"] == "Online_Sales").mean() > 0.2
    assert set(out["location_encoded"]) <= set(sales["location_encoded"])
    assert out["id of conversation"].is_monotonic_increasing
    assert pd.to_datetime(out["date_of_communication"]).is_monotonic_increasing


def _customer_outcomes(files: dict[str, Path], junk: int) -> pd.DataFrame:
    """The customer-level recipe in truth.json's definitions, written with pandas."""
    sales = pd.read_csv(files["sales.csv"]).drop_duplicates()
    out = pd.read_csv(files["outbound.csv"])
    out["at"] = pd.to_datetime(out["date_of_communication"])
    first = out.sort_values("at").groupby("phone_encoded").first()
    sales["order"] = _parse_order(sales["Order_Date"])
    lines = sales.merge(first[["at"]], left_on="phone_encoded", right_index=True)
    assert junk not in first.index
    rows = {}
    for w in (7, 30):
        end = lines["at"] + pd.Timedelta(days=w)
        in_w = lines[(lines["order"] > lines["at"]) & (lines["order"] <= end)]
        by_phone = in_w.groupby("phone_encoded")
        rows[f"purchased_{w}d"] = by_phone.size().gt(0).reindex(first.index, fill_value=False)
        rows[f"net_spend_{w}d"] = (
            by_phone["Amount_Including_VAT"].sum().reindex(first.index, fill_value=0.0)
        )
    frame = pd.DataFrame(rows).astype(float)
    frame["responded"] = first["has_response"]
    return frame


def test_files_reproduce_the_sample_truth(files: dict[str, Path]) -> None:
    truth = json.loads(files["truth.json"].read_text())
    frame = _customer_outcomes(files, truth["junk_phone"])
    assert len(frame) == truth["counts"]["contacted"]
    assert int(frame["responded"].sum()) == truth["counts"]["responders"]
    for o in OUTCOMES:
        means = frame.groupby("responded")[o].mean()
        t = truth["outcomes"][o]
        assert means[True] == pytest.approx(t["sample_mean_responders"], abs=1e-9)
        assert means[False] == pytest.approx(t["sample_mean_non_responders"], abs=1e-9)


def _within(sample: np.ndarray, expected: float) -> None:
    se = sample.std(ddof=1) / np.sqrt(sample.size)
    assert abs(sample.mean() - expected) < 4 * se, (sample.mean(), expected, se)


def test_large_sample_matches_the_closed_form(large: engagement.EngagementData) -> None:
    c = large.customers
    contacted, responded = c["contacted"], c["responded"]
    expected = engagement.expected_truth(large.model)
    for o in OUTCOMES:
        tau = c[f"y1_{o}"] - c[f"y0_{o}"]
        e = expected[o]
        assert e["expected_ate"] > 0
        _within(tau[contacted], e["expected_ate"])
        _within(tau[responded], e["expected_att"])
        _within(c[f"y1_{o}"][responded], e["expected_mean_responders"])
        _within(c[f"y0_{o}"][contacted & ~responded], e["expected_mean_non_responders"])
    # Response depends on traits as documented: frequent customers respond more.
    rate = [responded[contacted & (c["tier"] == t)].mean() for t in range(3)]
    assert rate[0] < rate[1] < rate[2]


def test_naive_difference_is_biased_upwards(large: engagement.EngagementData) -> None:
    truth = engagement.truth(large)
    for o in OUTCOMES:
        t = truth["outcomes"][o]
        assert t["expected_naive_difference"] > 1.3 * t["expected_att"]
        assert t["sample_naive_difference"] > 1.3 * t["sample_att"]


def test_no_effect_and_common_random_numbers() -> None:
    base = engagement.EngagementModel()
    none = engagement.EngagementModel(effect=engagement.parse_effect("0"))
    a, b = engagement.simulate(5000, 8, base), engagement.simulate(5000, 8, none)
    truth = engagement.truth(b)
    for o in OUTCOMES:
        assert truth["outcomes"][o]["sample_ate"] == 0.0
        assert truth["outcomes"][o]["expected_ate"] == 0.0
        assert np.array_equal(a.customers[f"y0_{o}"], b.customers[f"y0_{o}"])
    assert np.array_equal(a.customers["responded"], b.customers["responded"])
    # Only the caused transactions of responders differ between the two ledgers.
    assert a.sales["phone"].size > b.sales["phone"].size


def test_effect_parsing() -> None:
    effect = engagement.parse_effect("base=0.1, frequent=-0.05")
    assert effect.q(2, True, False) == pytest.approx(0.05)
    assert effect.q(0, False, True) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="KEY one of"):
        engagement.parse_effect("loyal=0.1")
    with pytest.raises(ValueError, match="within"):
        engagement.EngagementModel(effect=engagement.parse_effect("1.5")).cells()


def test_cli_writes_the_three_files(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["simulate", "engagement", "--customers", "600", "--seed", "2", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    truth = json.loads((tmp_path / "truth.json").read_text())
    assert truth["customers"] == 600 and truth["seed"] == 2
    sales = pd.read_csv(tmp_path / "sales.csv")
    assert len(sales) == truth["counts"]["sales_lines"]
