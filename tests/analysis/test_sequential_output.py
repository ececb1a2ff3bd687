"""`analyze experiment --sequential`: always-valid intervals and p-values in the text, the
JSON and the report, against an independent computation from the raw data (the asymptotic
confidence sequence of Waudby-Smith et al. 2023, eq. 9, written out here); "no estimate"
where none exists; bad options are one message."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from pushlift.cli import app


@pytest.fixture(scope="module")
def trial(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    rng = np.random.default_rng(11)
    n = 2400
    arm = rng.choice(["control", "offer"], n)
    spend = rng.lognormal(2.0, 0.8, n) * (1 + 0.1 * (arm == "offer"))
    bought = (rng.random(n) < np.where(arm == "offer", 0.36, 0.30)).astype(int)
    flat = np.where(arm == "control", 1.0, 1.0)  # both arms constant: no estimate
    df = pd.DataFrame({"arm": arm, "spend": spend, "bought": bought, "flat": flat})
    path = tmp_path_factory.mktemp("s") / "trial.csv"
    df.to_csv(path, index=False)
    return path, df


def analyse(path: Path, *extra: str) -> tuple[int, str]:
    args = ["analyze", "experiment", "--table", str(path), "--arm", "arm", "--control",
            "control", "--outcome", "spend", "--outcome", "bought", "--outcome", "flat",
            *extra]  # fmt: skip
    done = CliRunner().invoke(app, args)
    return done.exit_code, done.output


def confidence_sequence(
    df: pd.DataFrame, column: str, tuning: float, alpha: float = 0.05, proportion: bool = False
) -> dict[str, dict[str, float]]:
    """Two-sided asymptotic confidence sequence and its mixture p-value, from the raw data:
    absolute difference and delta-method relative lift."""
    c, t = df[column][df.arm == "control"], df[column][df.arm == "offer"]
    ddof = 0 if proportion else 1  # a proportion's variance is p(1 - p)
    vc, vt = c.var(ddof=ddof), t.var(ddof=ddof)
    mc, mt = c.mean(), t.mean()
    n = len(c) + len(t)
    rho2 = (-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / tuning
    out = {}
    for name, est, var in (
        ("absolute", mt - mc, vt / len(t) + vc / len(c)),
        ("relative", mt / mc - 1, vt / len(t) / mc**2 + mt**2 * vc / len(c) / mc**4),
    ):
        half = math.sqrt(
            var * n * 2 * (n * rho2 + 1) / (n**2 * rho2) * math.log(math.sqrt(n * rho2 + 1) / alpha)
        )
        log_e = rho2 * n * (est**2 / var) / (2 * (n * rho2 + 1)) - 0.5 * math.log(n * rho2 + 1)
        out[name] = {"estimate": est, "ci_low": est - half, "ci_high": est + half,
                     "p_value": min(1.0, math.exp(-log_e))}  # fmt: skip
    return out


@pytest.mark.parametrize("tuning", [5000, 800])
def test_intervals_match_an_independent_computation(trial, tuning: int) -> None:
    path, df = trial
    extra = ["--sequential-tuning", str(tuning)] if tuning != 5000 else []
    code, out = analyse(path, "--sequential", *extra, "--json")
    assert code == 0, out
    spend, bought, flat = json.loads(out)["outcomes"]
    for outcome, column, proportion in ((spend, "spend", False), (bought, "bought", True)):
        got = outcome["comparisons"][0]["sequential"]
        assert got["tuning"] == tuning
        for scale, want in confidence_sequence(df, column, tuning, proportion=proportion).items():
            for name, value in want.items():
                assert got[scale][name] == pytest.approx(value, rel=1e-9), (column, scale, name)
        fixed = outcome["comparisons"][0]["absolute"]
        assert (
            got["absolute"]["ci_high"] - got["absolute"]["ci_low"]
            > fixed["ci_high"] - fixed["ci_low"]
        )  # the price of looking at will: a wider interval
    none = flat["comparisons"][0]["sequential"]
    assert none["no_estimate_reason"] is not None
    assert none["absolute"]["p_value"] is None and none["absolute"]["ci_low"] is None


def test_text_and_report_state_the_sequential_figures(trial, tmp_path: Path) -> None:
    path, df = trial
    report = tmp_path / "r.html"
    code, out = analyse(path, "--sequential", "--report", str(report))
    assert code == 0, out
    text = " ".join(out.split())
    want = confidence_sequence(df, "bought", 5000, proportion=True)["absolute"]
    low, high = (f"{100 * want[k]:+.1f} pp" for k in ("ci_low", "ci_high"))
    assert (
        f"Always valid (sequential, tightest at 5,000 units): 95% interval {low} to {high}" in text
    )
    assert text.count("Always valid (sequential") == 2  # flat has no estimate at all:
    assert "flat, 'offer' against 'control': no estimate:" in text
    html = report.read_text()
    assert "Always-valid intervals (--sequential)" in html and "tightest at 5,000 units" in html
    code, plain = analyse(path)
    assert code == 0 and "Always valid" not in plain


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sequential", "--sequential-tuning", "0"], "--sequential-tuning must be from 1"),
        (["--sequential-tuning", "900"], "--sequential-tuning goes with --sequential"),
        (["--sequential", "--sequential-tuning", "x"], "sequential-tuning"),
    ],
)
def test_a_bad_tuning_is_one_message(trial, args: list[str], message: str) -> None:
    path, _ = trial
    code, out = analyse(path, *args)
    assert code == 2 and message in out and "Traceback" not in out
