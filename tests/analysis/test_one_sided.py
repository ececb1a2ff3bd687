"""`analyze experiment --alternative greater|less`: one-sided Welch tests and intervals
against scipy, the adjusted estimate and the power following them, in the JSON and the
text; a bad value is one clear message."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.stats as sps
from typer.testing import CliRunner

from pushlift.cli import app


@pytest.fixture(scope="module")
def trial(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    rng = np.random.default_rng(11)
    n = 1200
    arm = rng.choice(["control", "offer"], n)
    tenure = rng.integers(0, 20, n)
    spend = rng.gamma(2.0, 5.0 + 0.3 * tenure) + 1.5 * (arm == "offer")
    df = pd.DataFrame({"arm": arm, "tenure": tenure, "spend": spend})
    path = tmp_path_factory.mktemp("one") / "trial.csv"
    df.to_csv(path, index=False)
    return path, df


def analyse(path: Path, *extra: str) -> tuple[int, str]:
    args = ["analyze", "experiment", "--table", str(path), "--arm", "arm", "--control",
            "control", "--outcome", "spend", "--covariate", "tenure", *extra]  # fmt: skip
    done = CliRunner().invoke(app, args)
    return done.exit_code, done.output


def comparison(path: Path, *extra: str) -> dict:
    code, out = analyse(path, "--json", *extra)
    assert code == 0, out
    return json.loads(out)


@pytest.mark.parametrize("alternative", ["greater", "less"])
def test_one_sided_welch_matches_scipy(trial, alternative: str) -> None:
    path, df = trial
    result = comparison(path, "--alternative", alternative)
    assert result["alternative"] == alternative
    a = result["outcomes"][0]["comparisons"][0]["absolute"]
    ref = sps.ttest_ind(
        df.spend[df.arm == "offer"], df.spend[df.arm == "control"], equal_var=False,
        alternative=alternative,
    )  # fmt: skip
    low, high = ref.confidence_interval(0.95)
    assert a["alternative"] == alternative
    assert a["p_value"] == pytest.approx(ref.pvalue, rel=1e-9)
    if alternative == "greater":
        assert a["ci_low"] == pytest.approx(low, rel=1e-9) and a["ci_high"] is None
        assert math.isinf(high)
    else:
        assert a["ci_high"] == pytest.approx(high, rel=1e-9) and a["ci_low"] is None


def test_adjusted_estimate_and_power_follow_the_alternative(trial) -> None:
    path, _ = trial
    two = comparison(path)
    one = comparison(path, "--alternative", "greater")
    adj2 = two["outcomes"][0]["comparisons"][0]["adjusted"]["effect"]
    adj1 = one["outcomes"][0]["comparisons"][0]["adjusted"]["effect"]
    assert adj1["estimate"] == pytest.approx(adj2["estimate"], rel=1e-12)
    assert adj1["p_value"] == pytest.approx(sps.t.sf(adj2["estimate"] / adj2["se"], adj2["dof"]))
    margin = sps.t.ppf(0.95, adj2["dof"]) * adj2["se"]
    assert adj1["ci_low"] == pytest.approx(adj2["estimate"] - margin, rel=1e-12)
    # One-sided at alpha plans like two-sided at 2 alpha.
    at_double = comparison(path, "--alpha", "0.1")["power"][0]
    assert one["power"][0]["mde_absolute"] == pytest.approx(at_double["mde_absolute"], rel=1e-12)
    assert one["power"][0]["mde_absolute"] < two["power"][0]["mde_absolute"]


def test_text_says_one_sided_and_bad_values_are_refused(trial) -> None:
    path, _ = trial
    code, out = analyse(path, "--alternative", "greater")
    text = " ".join(out.split())
    assert code == 0 and "95% one-sided CI" in text and "or more" in text
    assert "one-sided test that it raises it" in text
    report = path.with_name("one-sided.html")
    code, _ = analyse(path, "--alternative", "less", "--report", str(report))
    assert code == 0 and "This analysis is one-sided (--alternative less)" in report.read_text()
    code, out = analyse(path, "--alternative", "bigger")
    assert code == 2 and "--alternative must be two-sided, greater or less" in out
    assert "Traceback" not in out
