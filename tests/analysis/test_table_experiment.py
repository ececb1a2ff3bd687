"""Any experiment table: a hand-built three-arm file checked against scipy and statsmodels."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import scipy.stats as sps
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.oneway import anova_oneway

from pushlift.analysis.experiment import analyze_experiment
from pushlift.errors import InputError
from pushlift.ingest.table import table_spec


@pytest.fixture(scope="module")
def three_arms(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    rng = np.random.default_rng(21)
    n = 1800
    df = pd.DataFrame(
        {
            "unit": np.arange(n),
            "variant": rng.choice(["A", "B", "C"], n),
            "region": rng.choice(["north", "south"], n),
            "tenure": rng.integers(0, 20, n),
        }
    )
    lift = df.variant.map({"A": 0.0, "B": 1.0, "C": 0.3})
    df["revenue"] = rng.exponential(5 + 0.2 * df.tenure) + lift * (df.region == "north")
    df["converted"] = (rng.random(n) < 0.2 + 0.05 * (df.variant == "B")).astype(int)
    path = tmp_path_factory.mktemp("t") / "exp.csv"
    df.to_csv(path, index=False)
    return path, df


def test_three_arm_analysis_matches_independent_implementations(three_arms) -> None:
    path, df = three_arms
    con = duckdb.connect()
    spec = table_spec(
        con,
        path,
        arm="variant",
        control="A",
        outcomes=["revenue", "converted"],
        covariates=["tenure", "region"],
        segments=["region"],
    )
    result = analyze_experiment(con, spec)
    assert result.arms == ("A", "B", "C")
    revenue, converted = result.outcomes
    assert converted.kind == "proportion" and revenue.kind == "mean"
    for comp in revenue.comparisons:
        ref = sps.ttest_ind(
            df.revenue[df.variant == comp.arm], df.revenue[df.variant == "A"], equal_var=False
        )
        assert comp.absolute.p_value == pytest.approx(ref.pvalue, rel=1e-9)
        assert comp.absolute.estimate == pytest.approx(
            df.revenue[df.variant == comp.arm].mean() - df.revenue[df.variant == "A"].mean()
        )
    # Holm and BH across all four comparisons (2 outcomes x 2 arms).
    comps = [c for o in result.outcomes for c in o.comparisons]
    raw = [c.absolute.p_value for c in comps]
    np.testing.assert_allclose([c.p_holm for c in comps], multipletests(raw, method="holm")[1])
    np.testing.assert_allclose([c.p_bh for c in comps], multipletests(raw, method="fdr_bh")[1])
    # All arms together: Welch's ANOVA.
    ref = anova_oneway([df.revenue[df.variant == a] for a in "ABC"], use_var="unequal")
    assert revenue.omnibus.p_value == pytest.approx(ref.pvalue, rel=1e-7)
    # Subgroup effects are plain Welch tests within each region.
    sub = {(s.arm, s.value): s for s in result.subgroups if s.outcome == "revenue"}
    for arm in "BC":
        for region in ("north", "south"):
            d = df[df.region == region]
            ref = sps.ttest_ind(
                d.revenue[d.variant == arm], d.revenue[d.variant == "A"], equal_var=False
            )
            assert sub[(arm, region)].effect.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    # Equal-effects test by hand for arm B: Q = sum w (d - d_bar)^2.
    e = [sub[("B", r)].effect for r in ("north", "south")]
    w = np.array([1 / x.se**2 for x in e])
    d = np.array([x.estimate for x in e])
    q = float((w * (d - (w * d).sum() / w.sum()) ** 2).sum())
    test = next(t for t in result.heterogeneity if t.arm == "B" and t.outcome == "revenue")
    assert test.q_statistic == pytest.approx(q) and test.dof == 1
    # Balance: standardized difference of tenure computed by hand.
    b = next(x for x in result.balance if x.covariate == "tenure" and x.arm == "C")
    tc, tt = df.tenure[df.variant == "A"], df.tenure[df.variant == "C"]
    assert b.standardized_difference == pytest.approx(
        (tt.mean() - tc.mean()) / np.sqrt((tt.var() + tc.var()) / 2)
    )
    # Sample ratio against equal weights.
    counts = [int((df.variant == a).sum()) for a in "ABC"]
    assert result.sample_ratio.p_value == pytest.approx(sps.chisquare(counts).pvalue)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"arm": "arm_x"}, "--arm column not found"),
        ({"control": "Z"}, "control value 'Z' not found"),
        ({"outcomes": ["region"]}, "outcome must be numeric"),
        ({"outcomes": ["nope"]}, "--outcome column not found"),
        ({"ratios": ["r=revenue"]}, "NAME=NUMERATOR/DENOMINATOR"),
        ({"weights": [0.5, 0.5]}, "--weight given 2 times for 3 arms"),
    ],
)
def test_table_errors_name_the_column(three_arms, kwargs, message) -> None:
    path, _ = three_arms
    args = {"arm": "variant", "control": "A", "outcomes": ["revenue"]} | kwargs
    with pytest.raises(InputError, match=message) as info:
        table_spec(duckdb.connect(), path, **args)
    assert str(path) in str(info.value)


def test_missing_outcome_values_are_refused_not_imputed(tmp_path: Path) -> None:
    path = tmp_path / "gaps.csv"
    path.write_text("arm,y\nc,1\nt,\nt,3\nc,2\n")
    with pytest.raises(InputError, match="1 rows have no value; pushlift does not impute"):
        table_spec(duckdb.connect(), path, arm="arm", control="c", outcomes=["y"])


def test_parquet_input(tmp_path: Path, three_arms) -> None:
    _, df = three_arms
    path = tmp_path / "exp.parquet"
    df.to_parquet(path)
    con = duckdb.connect()
    spec = table_spec(con, path, arm="variant", control="A", outcomes=["converted"])
    result = analyze_experiment(con, spec)
    assert result.outcomes[0].arms[0].n == int((df.variant == "A").sum())


def test_arms_in_the_data_must_match_the_plan(three_arms) -> None:
    """Planned weights follow the spec's arm order, so an unplanned arm is an error."""
    from dataclasses import replace

    from pushlift.errors import PushliftError

    path, _ = three_arms
    con = duckdb.connect()
    spec = table_spec(con, path, arm="variant", control="A", outcomes=["revenue"])
    with pytest.raises(PushliftError, match="unexpected C"):
        analyze_experiment(con, replace(spec, arms=("A", "B"), weights=(0.5, 0.5)))
