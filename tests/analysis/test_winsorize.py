"""`analyze experiment --winsorize P`: mean outcomes capped at their pooled percentile, the
effects on the capped values against an independent computation (numpy's percentile,
Welch by hand), proportions untouched, the cap stated; bad percentiles are one message."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.stats as sps
from typer.testing import CliRunner

from pushlift.cli import app


@pytest.fixture(scope="module")
def trial(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    rng = np.random.default_rng(8)
    n = 4000
    arm = rng.choice(["control", "offer"], n)
    spend = np.where(rng.random(n) < 0.2, rng.lognormal(3, 1.8, n), 0.0) * np.where(
        arm == "offer", 1.1, 1.0
    )
    bought = (spend > 0).astype(int)
    df = pd.DataFrame({"arm": arm, "spend": spend, "bought": bought})
    path = tmp_path_factory.mktemp("w") / "trial.csv"
    df.to_csv(path, index=False)
    return path, df


def analyse(path: Path, *extra: str) -> tuple[int, str]:
    args = ["analyze", "experiment", "--table", str(path), "--arm", "arm", "--control",
            "control", "--outcome", "spend", "--outcome", "bought", *extra]  # fmt: skip
    done = CliRunner().invoke(app, args)
    return done.exit_code, done.output


@pytest.mark.parametrize("percentile", [99.0, 95.5])
def test_effects_are_on_the_capped_values(trial, percentile: float) -> None:
    path, df = trial
    code, out = analyse(path, "--winsorize", f"{percentile:g}", "--json")
    assert code == 0, out
    result = json.loads(out)
    cap = np.percentile(df.spend, percentile)  # linear interpolation, as quantile_cont
    (stated,) = result["winsorized"]
    assert stated["outcome"] == "spend" and stated["percentile"] == percentile
    assert stated["cap"] == pytest.approx(cap, rel=1e-12)
    assert stated["capped"] == int((df.spend > cap).sum()) and stated["units"] == len(df)
    capped = df.spend.clip(upper=cap)
    c, t = capped[df.arm == "control"], capped[df.arm == "offer"]
    vc, vt = c.var(ddof=1) / len(c), t.var(ddof=1) / len(t)
    dof = (vc + vt) ** 2 / (vc**2 / (len(c) - 1) + vt**2 / (len(t) - 1))
    half = sps.t.ppf(0.975, dof) * np.sqrt(vc + vt)
    spend, bought = result["outcomes"]
    got = spend["comparisons"][0]["absolute"]
    assert got["estimate"] == pytest.approx(t.mean() - c.mean(), rel=1e-9)
    assert got["ci_low"] == pytest.approx(t.mean() - c.mean() - half, rel=1e-9)
    assert got["ci_high"] == pytest.approx(t.mean() - c.mean() + half, rel=1e-9)
    # The proportion is not capped: the same as without --winsorize (its Holm p moves with
    # the family, whose spend p-value changed).
    code, plain = analyse(path, "--json")
    before = json.loads(plain)["outcomes"][1]["comparisons"][0]
    for part in ("absolute", "relative"):
        assert before[part] == bought["comparisons"][0][part]
    assert f"the pooled {percentile:g}th percentile" in " ".join(result["data_notes"])


def test_the_text_states_the_cap(trial) -> None:
    path, df = trial
    code, out = analyse(path, "--winsorize", "99")
    assert code == 0, out
    text = " ".join(out.split())
    cap = np.percentile(df.spend, 99)
    assert f"Winsorized: spend capped at {cap:,.4g}, the pooled 99th percentile" in text
    code, plain = analyse(path)
    assert "Winsorized" not in plain


@pytest.mark.parametrize("value", ["100", "50", "0", "x"])
def test_a_bad_percentile_is_one_message(trial, value: str) -> None:
    path, _ = trial
    code, out = analyse(path, "--winsorize", value)
    assert code == 2 and "--winsorize" in out and "Traceback" not in out
