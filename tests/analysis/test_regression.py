"""OLS with robust errors from SQL aggregates agrees with statsmodels."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from pushlift.analysis.effects import adjusted_effect
from pushlift.analysis.regression import Regressor, fit_ols
from pushlift.analysis.spec import Covariate, ExperimentSpec, Outcome
from pushlift.analysis.stats import SampleMean, welch_test


def _data(seed: int, n: int = 3000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "t": rng.integers(0, 2, n),
            "age": rng.integers(18, 80, n).astype(float),
            "female": (rng.random(n) < 0.76).astype(int),
        }
    )
    # Heteroskedastic, heavy-tailed outcome with an effect that depends on age.
    df["y"] = rng.lognormal(2 + 0.01 * df.age, 1.0) * (1 + 0.3 * df.t) - 0.5 * df.female
    return df


@pytest.mark.parametrize("cov_type", ["HC0", "HC1", "HC2", "HC3"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fit_ols_matches_statsmodels(cov_type: str, seed: int) -> None:
    df = _data(seed)
    con = duckdb.connect()
    con.register("d", df)
    regs = [
        Regressor("const", "1"),
        Regressor("t", "t"),
        Regressor("age", "age"),
        Regressor("female", "female"),
        Regressor("t:age", "t * age"),
    ]
    fit = fit_ols(con, "d", "y", regs, cov_type=cov_type)  # type: ignore[arg-type]
    design = np.column_stack([np.ones(len(df)), df.t, df.age, df.female, df.t * df.age])
    ref = sm.OLS(df.y.to_numpy(), design).fit(cov_type=cov_type)
    np.testing.assert_allclose(fit.params, ref.params, rtol=1e-9)
    np.testing.assert_allclose(fit.se(), ref.bse, rtol=1e-8)
    assert fit.r_squared == pytest.approx(ref.rsquared, rel=1e-9)
    assert fit.n == len(df) and fit.df_resid == ref.df_resid


def test_fit_ols_excludes_incomplete_rows_and_rejects_collinear() -> None:
    df = _data(4, 500)
    df.loc[:9, "age"] = np.nan
    con = duckdb.connect()
    con.register("d", df)
    fit = fit_ols(con, "d", "y", [Regressor("const", "1"), Regressor("age", "age")])
    assert fit.n == 490
    with pytest.raises(ValueError, match="collinear"):
        fit_ols(
            con,
            "d",
            "y",
            [Regressor("const", "1"), Regressor("a", "female"), Regressor("b", "2 * female")],
        )


@pytest.mark.parametrize("seed", [7, 8])
def test_lin_estimator_matches_statsmodels_centred_regression(seed: int) -> None:
    df = _data(seed)
    df["arm"] = np.where(df.t == 1, "message", "control")
    con = duckdb.connect()
    con.register("units", df)
    spec = ExperimentSpec(
        relation="units",
        arm="arm",
        control="control",
        arms=("control", "message"),
        outcomes=(Outcome("y", "y", "mean"),),
        covariates=(
            Covariate("age", (("age", "age"),)),
            Covariate("female", (("female", "female"),)),
        ),
    )
    a = df[df.t == 0].y
    b = df[df.t == 1].y
    unadjusted = welch_test(
        SampleMean(len(a), a.sum(), (a**2).sum()),
        SampleMean(len(b), b.sum(), (b**2).sum()),
        relative=False,
    )
    adj = adjusted_effect(con, spec, spec.outcomes[0], "message", unadjusted, 0.05)
    assert adj is not None
    xc = df[["age", "female"]] - df[["age", "female"]].mean()
    design = np.column_stack([np.ones(len(df)), df.t, xc, xc.mul(df.t, axis=0)])
    ref = sm.OLS(df.y.to_numpy(), design).fit(cov_type="HC2")
    assert adj.effect.estimate == pytest.approx(ref.params[1], rel=1e-9)
    assert adj.effect.se == pytest.approx(ref.bse[1], rel=1e-8)
    # The unadjusted Welch CI is the yardstick for how much adjustment narrowed it.
    width = adj.effect.ci_high - adj.effect.ci_low
    assert adj.ci_narrowing == pytest.approx(1 - width / (unadjusted.ci_high - unadjusted.ci_low))


@pytest.mark.parametrize("cov_type", ["HC0", "HC1", "HC2", "HC3"])
def test_many_outcomes_in_two_scans_equal_one_at_a_time(cov_type: str) -> None:
    """`fit_ols_many` (what the analysis uses for all outcomes at once) gives each outcome
    exactly what `fit_ols` gives it alone, also for outcomes with missing values, constant
    or non-finite outcomes, and an optional covariate that is dropped."""
    from pushlift.analysis.regression import fit_ols_many

    rng = np.random.default_rng(5)
    n = 400
    df = pd.DataFrame(
        {
            "t": rng.integers(0, 2, n).astype(float),
            "age": rng.integers(18, 80, n).astype(float),
            "flat": np.ones(n),  # constant: its optional group is dropped
        }
    )
    df["y0"] = rng.normal(size=n) + df.t
    df["y1"] = rng.lognormal(1, 1, n)
    df["y2"] = np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n))  # missing values
    df["y3"] = 2.0  # constant outcome
    df["y4"] = df.y0.where(df.index != 7, np.inf)  # not finite
    df.loc[3, "age"] = np.nan  # a row without a regressor is left out of all
    con = duckdb.connect()
    con.register("d", df)
    regs = [
        Regressor("const", "1"),
        Regressor("t", "t"),
        Regressor("age", "age"),
        Regressor("flat", "flat"),
        Regressor("t:age", "t * age"),
    ]
    optional = [[2, 4], [3]]
    ys = ["y0", "y1", "y2", "y3", "y4"]
    many = fit_ols_many(con, "d", ys, regs, cov_type=cov_type, optional=optional)  # type: ignore[arg-type]
    for y, got in zip(ys, many, strict=True):
        try:
            want = fit_ols(con, "d", y, regs, cov_type=cov_type, optional=optional)  # type: ignore[arg-type]
        except ValueError as e:
            assert isinstance(got, ValueError) and str(got) == str(e), y
            continue
        assert not isinstance(got, ValueError), (y, got)
        assert got.names == want.names and got.dropped == want.dropped == ("flat",)
        assert got.n == want.n
        np.testing.assert_allclose(got.params, want.params, rtol=1e-12)
        np.testing.assert_allclose(got.cov, want.cov, rtol=1e-9, equal_nan=True)
        assert got.r_squared == pytest.approx(want.r_squared, rel=1e-12, nan_ok=True)
    assert isinstance(many[4], ValueError) and "not finite" in str(many[4])
    assert not isinstance(many[2], ValueError) and many[2].n < many[0].n  # its own rows
