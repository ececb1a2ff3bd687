"""`analyze experiment --bayesian`: the posterior of the relative lift under a flat prior,
against an independent computation from the raw data (delta method, normal posterior), in
the text and the JSON; and "no estimate" where the lift does not exist."""

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
    rng = np.random.default_rng(5)
    n = 1500
    arm = rng.choice(["control", "offer"], n)
    spend = rng.lognormal(2.0, 0.8, n) * (1 + 0.08 * (arm == "offer"))
    zero = np.where(arm == "control", 0.0, rng.random(n))  # control is all zeros
    df = pd.DataFrame({"arm": arm, "spend": spend, "zeroed": zero})
    path = tmp_path_factory.mktemp("b") / "trial.csv"
    df.to_csv(path, index=False)
    return path, df


def analyse(path: Path, *extra: str) -> tuple[int, str]:
    args = ["analyze", "experiment", "--table", str(path), "--arm", "arm", "--control",
            "control", "--outcome", "spend", "--outcome", "zeroed", *extra]  # fmt: skip
    done = CliRunner().invoke(app, args)
    return done.exit_code, done.output


def posterior(
    df: pd.DataFrame, column: str, prior: tuple[float, float] | None = None
) -> dict[str, float]:
    """The delta-method likelihood N(lift, se^2), times a normal prior (mean, sd) if any:
    precision-weighted."""
    c, t = df[column][df.arm == "control"], df[column][df.arm == "offer"]
    mc, mt = c.mean(), t.mean()
    var = t.var(ddof=1) / len(t) / mc**2 + mt**2 * c.var(ddof=1) / len(c) / mc**4
    mean, sd = mt / mc - 1, np.sqrt(var)
    if prior is not None:
        precision = 1 / var + 1 / prior[1] ** 2
        mean = (mean / var + prior[0] / prior[1] ** 2) / precision
        sd = np.sqrt(1 / precision)
    z = mean / sd

    def loss(m: float) -> float:  # E[max(X, 0)] for X ~ N(m, sd^2)
        return m * sps.norm.cdf(m / sd) + sd * sps.norm.pdf(m / sd)

    return {
        "mean": mean,
        "sd": sd,
        "chance_to_win": sps.norm.cdf(z),
        "ci_low": mean - sps.norm.ppf(0.975) * sd,
        "ci_high": mean + sps.norm.ppf(0.975) * sd,
        "risk_control": loss(mean),
        "risk_treatment": loss(-mean),
    }


def test_posterior_matches_an_independent_computation(trial) -> None:
    path, df = trial
    code, out = analyse(path, "--bayesian", "--json")
    assert code == 0, out
    spend, zeroed = json.loads(out)["outcomes"]
    got = spend["comparisons"][0]["bayesian"]
    for name, want in posterior(df, "spend").items():
        assert got[name] == pytest.approx(want, rel=1e-9), name
    assert got["error"] is None
    # A control mean of zero: no relative lift, so no posterior; never "50%, no risk".
    none = zeroed["comparisons"][0]["bayesian"]
    assert none["error"] is not None
    assert none["chance_to_win"] is None and none["risk_control"] is None


def test_text_states_the_prior_and_the_figures(trial) -> None:
    path, df = trial
    code, out = analyse(path, "--bayesian")
    assert code == 0, out
    want = posterior(df, "spend")
    text = " ".join(out.split())
    assert f"beats 'control' {want['chance_to_win'] * 100:.1f}%" in text
    assert "Bayesian (flat prior, relative lift)" in text
    assert "Bayesian (flat prior): no estimate:" in text
    code, plain = analyse(path)
    assert code == 0 and "Bayesian" not in plain


def test_an_informative_prior_pulls_the_lift_towards_it(trial) -> None:
    path, df = trial
    code, out = analyse(path, "--bayesian", "--prior", "0,0.02", "--json")
    assert code == 0, out
    got = json.loads(out)["outcomes"][0]["comparisons"][0]
    for name, want in posterior(df, "spend", prior=(0.0, 0.02)).items():
        assert got["bayesian"][name] == pytest.approx(want, rel=1e-9), name
    assert got["bayesian_prior"] == {"mean": 0.0, "variance": pytest.approx(0.0004), "proper": True}
    flat = posterior(df, "spend")
    assert abs(got["bayesian"]["mean"]) < abs(flat["mean"])  # shrunk towards 0
    code, out = analyse(path, "--bayesian", "--prior", "0,0.02")
    assert "Bayesian (prior N(+0.0%, sd 2.0%), relative lift)" in " ".join(out.split())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bayesian", "--prior", "0"], "--prior must be MEAN,SD"),
        (["--bayesian", "--prior", "0,-1"], "positive, finite sd"),
        (["--bayesian", "--prior", "nan,0.1"], "finite mean"),
        (["--prior", "0,0.1"], "--prior goes with --bayesian"),
    ],
)
def test_a_bad_prior_is_one_message(trial, args: list[str], message: str) -> None:
    path, _ = trial
    code, out = analyse(path, *args)
    assert code == 2 and message in out and "Traceback" not in out
