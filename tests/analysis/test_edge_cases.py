"""Edge cases get the right answer, or a clear statement of why there is none (issue 13).

Each case is a hand-built fixture checked against scipy/statsmodels or a hand computation:
one constant arm, both arms constant, a ratio over a zero denominator, HC2 at leverage 1,
a tiny arm, unequal arm sizes in the MDE, a segment level missing from an arm, no
covariates, inf/NaN in the data, and constant or collinear covariates.
"""

from __future__ import annotations

import io
import json
import math
import warnings

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import scipy.stats as sps
import statsmodels.api as sm
from rich.console import Console
from scipy.optimize import brentq
from statsmodels.stats.multitest import multipletests

from pushlift.analysis.clusters import segment_customers
from pushlift.analysis.effects import adjusted_effect, arm_outcome, compare, omnibus
from pushlift.analysis.experiment import analyze_experiment
from pushlift.analysis.heterogeneity import equal_effects_test, subgroup_effects
from pushlift.analysis.moments import segment_statistics
from pushlift.analysis.multiplicity import with_adjusted_p
from pushlift.analysis.power import design_power
from pushlift.analysis.regression import Regressor, fit_ols
from pushlift.analysis.results import Comparison, to_jsonable
from pushlift.analysis.spec import Covariate, ExperimentSpec, Outcome
from pushlift.analysis.stats import (
    ZERO_NEGATIVE_VARIANCE_MESSAGE,
    Proportion,
    RatioStatistic,
    SampleMean,
    minimum_detectable_effect,
    variance_of_ratio,
    welch_test,
)
from pushlift.errors import PushliftError
from pushlift.report.html import render_report
from pushlift.report.wording import conclusions
from pushlift.terminal import print_result

CONSTANT = np.full(12, 10.0)
VARYING = np.array([12, 14, 16, 18, 20, 13, 15, 17, 19, 21, 16, 17], dtype=float)


def mean_stat(x: np.ndarray) -> SampleMean:
    return SampleMean(len(x), float(x.sum()), float((x**2).sum()))


def ratio_stat(m: np.ndarray, d: np.ndarray) -> RatioStatistic:
    return RatioStatistic(
        len(m), float(m.sum()), float((m**2).sum()), float(d.sum()), float((d**2).sum()),
        float((m * d).sum()),
    )  # fmt: skip


def units_spec(**kw: object) -> ExperimentSpec:
    args: dict = {
        "relation": "units",
        "arm": "arm",
        "control": "c",
        "arms": ("c", "t"),
        "outcomes": (Outcome("y", "y", "mean"),),
    }
    return ExperimentSpec(**(args | kw))


def connect(df: pd.DataFrame) -> duckdb.DuckDBPyConnection:
    """The frame as relation 'units'; a NaN stays NaN (pandas would hand DuckDB a NULL)."""
    con = duckdb.connect()
    table = pa.table({c: pa.array(df[c].to_numpy(), from_pandas=False) for c in df.columns})
    con.register("units", table)
    return con


def lin(con: duckdb.DuckDBPyConnection, spec: ExperimentSpec):
    """The adjusted effect of 't' on the first outcome, as the analysis computes it."""
    stats = segment_statistics(con, spec)
    a, b = (stats[(arm, "all", "all")][spec.outcomes[0].name] for arm in ("c", "t"))
    unadjusted = welch_test(a, b, relative=False, allow_constant_arm=True)
    return adjusted_effect(con, spec, spec.outcomes[0], "t", unadjusted, 0.05)


# ---------------------------------------------------------------------------
# One constant arm: the Welch estimate exists
# ---------------------------------------------------------------------------


def test_one_constant_arm_gives_the_welch_estimate_of_scipy_and_statsmodels() -> None:
    from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

    ours = welch_test(
        mean_stat(CONSTANT), mean_stat(VARYING), relative=False, allow_constant_arm=True
    )
    with warnings.catch_warnings():  # scipy warns that one arm is constant
        warnings.simplefilter("ignore", RuntimeWarning)
        ref = sps.ttest_ind(VARYING, CONSTANT, equal_var=False)
    cm = CompareMeans(DescrStatsW(VARYING), DescrStatsW(CONSTANT))
    assert ours.error is None
    # By hand: the difference of means, the varying arm's SE alone, its n - 1 dof.
    assert ours.estimate == pytest.approx(VARYING.mean() - 10.0, rel=1e-12)
    assert ours.se == pytest.approx(VARYING.std(ddof=1) / math.sqrt(12), rel=1e-12)
    assert ours.se == pytest.approx(cm.std_meandiff_separatevar, rel=1e-12)
    assert ours.dof == pytest.approx(11.0) and ref.df == pytest.approx(11.0)
    assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    low, high = cm.tconfint_diff(usevar="unequal")
    assert (ours.ci_low, ours.ci_high) == (pytest.approx(low), pytest.approx(high))
    # Either arm may be the constant one.
    flipped = welch_test(
        mean_stat(VARYING), mean_stat(CONSTANT), relative=False, allow_constant_arm=True
    )
    assert flipped.estimate == pytest.approx(-ours.estimate) and flipped.se == ours.se


def test_gbstats_default_still_refuses_a_constant_arm() -> None:
    """The gbstats port keeps gbstats' behaviour unless asked (KPIs rely on it)."""
    res = welch_test(mean_stat(CONSTANT), mean_stat(VARYING), relative=False)
    assert res.error == ZERO_NEGATIVE_VARIANCE_MESSAGE


def test_a_proportion_of_100_percent_gives_the_estimate() -> None:
    a, b = Proportion(30, 30), Proportion(50, 35)
    res = welch_test(a, b, relative=False, allow_constant_arm=True)
    assert res.error is None
    assert res.estimate == pytest.approx(0.7 - 1.0)
    assert res.se == pytest.approx(math.sqrt(0.7 * 0.3 / 50))
    assert res.dof == pytest.approx(49.0)
    rel = welch_test(a, b, relative=True, allow_constant_arm=True)
    assert rel.estimate == pytest.approx(-0.3) and rel.se == pytest.approx(res.se)


def test_a_constant_ratio_arm_gives_the_delta_method_estimate() -> None:
    rng = np.random.default_rng(3)
    d_a = rng.integers(1, 5, 40).astype(float)
    m_a = 2.5 * d_a  # every control unit spends exactly 2.5 per visit
    d_b = rng.integers(1, 5, 50).astype(float)
    m_b = d_b * rng.gamma(4.0, 0.8, 50)
    a, b = ratio_stat(m_a, d_a), ratio_stat(m_b, d_b)
    assert a.variance == 0
    res = welch_test(a, b, relative=False, allow_constant_arm=True)
    assert res.error is None
    r_b = m_b.sum() / d_b.sum()
    var_b = variance_of_ratio(
        m_b.mean(), m_b.var(ddof=1), d_b.mean(), d_b.var(ddof=1), np.cov(m_b, d_b)[0, 1]
    )
    assert res.estimate == pytest.approx(r_b - 2.5, rel=1e-12)
    assert res.se == pytest.approx(math.sqrt(var_b / 50), rel=1e-9)


@pytest.mark.parametrize(
    ("a", "b", "reason"),
    [
        (mean_stat(CONSTANT), mean_stat(CONSTANT + 1), "every unit in both arms"),
        (SampleMean(1, 3.0, 9.0), mean_stat(VARYING), "fewer than 2 units"),
        (
            ratio_stat(np.ones(5), np.zeros(5)),
            ratio_stat(np.arange(5.0), np.ones(5)),
            "denominator sums to zero",
        ),
        (SampleMean(5, math.inf, math.inf), mean_stat(VARYING), "inf or NaN"),
    ],
    ids=["both_constant", "one_unit", "zero_denominator", "non_finite"],
)
def test_no_estimate_only_when_none_exists(a, b, reason: str) -> None:
    res = welch_test(a, b, relative=False, allow_constant_arm=True)
    assert res.error is not None and reason in res.error


def test_compare_flags_a_constant_arm_and_clusters_use_the_same_rule() -> None:
    df = pd.DataFrame(
        {"arm": ["c"] * 12 + ["t"] * 12, "y": np.r_[CONSTANT, VARYING], "g": ["a", "b"] * 12}
    )
    con = connect(df)
    spec = units_spec(segments=("g",))
    stats = segment_statistics(con, spec, {"g": "g"})
    c = compare(con, spec, spec.outcomes[0], "t", stats[("c", "all", "all")]["y"],
                stats[("t", "all", "all")]["y"], 0.05)  # fmt: skip
    assert c.no_estimate_reason is None
    assert c.absolute.estimate == pytest.approx(VARYING.mean() - 10.0)
    assert any("No variation in 'c'" in w for w in c.warnings)
    # Subgroup (and cluster) effects go through the same estimator.
    rows, tests = subgroup_effects(spec, stats, ["g"], 0.05)
    for s in rows:
        part = VARYING[np.arange(12) % 2 == (0 if s.value == "a" else 1)]
        assert s.effect.estimate == pytest.approx(part.mean() - 10.0)
        assert s.effect.se == pytest.approx(part.std(ddof=1) / math.sqrt(len(part)))
    assert tests[0].levels == ("a", "b") and tests[0].not_estimable == ()


# ---------------------------------------------------------------------------
# No estimate: said in every format, out of the multiplicity family
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def no_estimate_result():
    """Outcome 'flat' is 5 in every unit of both arms: no estimate. 'y' is ordinary."""
    rng = np.random.default_rng(11)
    n = 60
    df = pd.DataFrame(
        {
            "arm": np.repeat(["c", "t"], n // 2),
            "flat": 5.0,
            "y": rng.normal(1.0, 1.0, n) + np.repeat([0.0, 0.6], n // 2),
        }
    )
    spec = units_spec(outcomes=(Outcome("flat", "flat", "mean"), Outcome("y", "y", "mean")))
    return analyze_experiment(connect(df), spec), df


def test_no_estimate_row_is_nan_with_a_reason_and_leaves_holm(no_estimate_result) -> None:
    result, df = no_estimate_result
    flat, y = (o.comparisons[0] for o in result.outcomes)
    assert flat.no_estimate_reason is not None
    for v in (flat.absolute.estimate, flat.absolute.p_value, flat.p_holm, flat.p_bh):
        assert math.isnan(v)  # never "0.00, p = 1"
    # The family holds only 'y', so its Holm p-value is its own p-value.
    with np.errstate(all="ignore"):
        p = sps.ttest_ind(df.y[df.arm == "t"], df.y[df.arm == "c"], equal_var=False).pvalue
    assert y.p_holm == pytest.approx(p, rel=1e-9) and y.p_bh == pytest.approx(p, rel=1e-9)


def test_no_estimate_is_said_in_json_terminal_and_html(no_estimate_result) -> None:
    result, _ = no_estimate_result
    data = json.loads(json.dumps(to_jsonable(result), allow_nan=False))
    row = data["outcomes"][0]["comparisons"][0]
    assert row["absolute"]["estimate"] is None and row["absolute"]["p_value"] is None
    assert row["p_holm"] is None
    assert "same value" in row["no_estimate_reason"]
    line = next(x for x in conclusions(result) if x.startswith("flat"))
    assert "no estimate: " in line and "+0.00" not in line and "1.000" not in line
    buf = io.StringIO()
    print_result(result, Console(file=buf, width=250))
    terminal = buf.getvalue()
    assert "no estimate: " in terminal and "+0.00" not in terminal
    html = render_report(result)
    assert "no estimate: " + row["no_estimate_reason"] in html
    assert ">+0.00<" not in html


def test_multiplicity_keeps_failed_rows_out_of_the_family() -> None:
    nan = math.nan
    failed = welch_test(SampleMean(1, 1.0, 1.0), mean_stat(VARYING), relative=False)
    ok = welch_test(mean_stat(VARYING - 3), mean_stat(VARYING), relative=False)
    rows = [Comparison("y", "t", "c", e, e, None, nan, nan, None) for e in (failed, ok, ok)]
    assert math.isnan(rows[0].absolute.p_value)  # the placeholder p = 1 is gone
    adjusted = with_adjusted_p(rows, [r.absolute.p_value for r in rows])
    assert math.isnan(adjusted[0].p_holm)
    assert adjusted[1].p_holm == pytest.approx(min(1.0, 2 * ok.p_value))


def test_welch_anova_with_a_constant_arm_says_why() -> None:
    o = Outcome("y", "y", "mean")
    res = omnibus(o, [mean_stat(CONSTANT), mean_stat(VARYING), mean_stat(VARYING + 1)])
    assert res is not None and math.isnan(res.p_value) and math.isnan(res.f_statistic)
    assert "zero variance" in (res.no_estimate_reason or "")


# ---------------------------------------------------------------------------
# Segment levels missing from an arm; Cochran's Q over the estimable levels
# ---------------------------------------------------------------------------


def test_a_level_with_no_units_in_an_arm_is_reported_and_q_uses_the_others() -> None:
    rng = np.random.default_rng(5)
    df = pd.DataFrame(
        {
            "arm": ["c"] * 60 + ["t"] * 80,
            "seg": ["a"] * 30 + ["b"] * 30 + ["a"] * 30 + ["b"] * 30 + ["new"] * 20,
            "y": rng.normal(0.0, 1.0, 140),
        }
    )
    df.loc[df.arm == "t", "y"] += np.where(df.seg[df.arm == "t"] == "a", 1.0, 0.2)
    con = connect(df)
    spec = units_spec(segments=("seg",))
    stats = segment_statistics(con, spec, {"seg": "seg"})
    rows, tests = subgroup_effects(spec, stats, ["seg"], 0.05)
    by = {s.value: s for s in rows}
    assert set(by) == {"a", "b", "new"}  # 'new' used to disappear
    new = by["new"]
    assert (new.n_control, new.n_treatment) == (0, 20)
    assert new.no_estimate_reason == "no units in 'c' at this level"
    assert math.isnan(new.effect.estimate) and math.isnan(new.p_holm)
    # Holm and BH over the two estimable levels only.
    raw = [by["a"].effect.p_value, by["b"].effect.p_value]
    np.testing.assert_allclose(
        [by["a"].p_holm, by["b"].p_holm], multipletests(raw, method="holm")[1]
    )
    np.testing.assert_allclose([by["a"].p_bh, by["b"].p_bh], multipletests(raw, method="fdr_bh")[1])
    (q,) = tests
    assert q.levels == ("a", "b") and q.not_estimable == ("new",)
    e = [by[v].effect for v in ("a", "b")]
    w = np.array([1 / x.se**2 for x in e])
    d = np.array([x.estimate for x in e])
    assert q.q_statistic == pytest.approx(float((w * (d - (w * d).sum() / w.sum()) ** 2).sum()))
    assert q.dof == 1


def test_q_with_fewer_than_two_estimable_levels_says_so() -> None:
    ok = welch_test(mean_stat(VARYING - 3), mean_stat(VARYING), relative=False)
    failed = welch_test(SampleMean(1, 1.0, 1.0), mean_stat(VARYING), relative=False)
    q = equal_effects_test("y", "t", "seg", [ok, failed], ["x", "z"])
    assert q is not None and math.isnan(q.p_value)
    assert q.not_estimable == ("z",) and "fewer than two levels" in (q.no_estimate_reason or "")


# ---------------------------------------------------------------------------
# Regression adjustment: leverage 1, tiny arms, bad covariates
# ---------------------------------------------------------------------------


def _lin_data(n_control: int, n_treatment: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = n_control + n_treatment
    df = pd.DataFrame({"arm": ["c"] * n_control + ["t"] * n_treatment, "x": rng.normal(2, 1, n)})
    df["y"] = 1 + df.x + rng.normal(0, 1, n) + 0.5 * (df.arm == "t")
    return df


def test_hc2_at_leverage_one_gives_no_adjusted_estimate() -> None:
    df = _lin_data(2, 40, seed=7)
    con = connect(df)
    spec = units_spec(covariates=(Covariate("x", (("x", "x"),)),))
    stats = segment_statistics(con, spec)
    c = compare(con, spec, spec.outcomes[0], "t", stats[("c", "all", "all")]["y"],
                stats[("t", "all", "all")]["y"], 0.05)  # fmt: skip
    # statsmodels: both control units have leverage 1, where HC2 divides 0 by 0.
    t = (df.arm == "t").to_numpy(float)
    xc = df.x.to_numpy() - df.x.mean()
    design = np.column_stack([np.ones(len(df)), t, xc, t * xc])
    hat = sm.OLS(df.y.to_numpy(), design).fit().get_influence().hat_matrix_diag
    np.testing.assert_allclose(hat[:2], 1.0, atol=1e-9)
    adj = c.adjusted
    assert adj is not None and adj.no_estimate_reason is not None
    assert "2 units at leverage 1" in adj.no_estimate_reason
    assert math.isnan(adj.effect.se) and math.isnan(adj.ci_narrowing)  # was 0.143, "97% narrower"
    assert (adj.n_control, adj.n_treatment) == (2, 40)
    # Every format says so, and none claims a narrower interval.
    result = analyze_experiment(con, spec)
    line = next(x for x in conclusions(result) if x.startswith("y:"))
    assert "No regression-adjusted estimate: 2 units at leverage 1" in line
    assert "narrower" not in line
    html = render_report(result)
    assert "no estimate: 2 units at leverage 1" in html
    data = to_jsonable(result)["outcomes"][0]["comparisons"][0]["adjusted"]
    assert data["effect"]["se"] is None and "leverage 1" in data["no_estimate_reason"]


def test_a_three_unit_arm_is_flagged() -> None:
    df = _lin_data(3, 198, seed=8)
    con = connect(df)
    spec = units_spec(covariates=(Covariate("x", (("x", "x"),)),))
    stats = segment_statistics(con, spec)
    c = compare(con, spec, spec.outcomes[0], "t", stats[("c", "all", "all")]["y"],
                stats[("t", "all", "all")]["y"], 0.05)  # fmt: skip
    assert c.adjusted is not None and c.adjusted.effect.dof == 197
    small = [w for w in c.warnings if w.startswith("Small arm")]
    assert small and "'c' has 3 units" in small[0] and "197 residual degrees" in small[0]
    assert any(w.startswith("Few degrees of freedom") for w in c.warnings)
    # Above the thresholds, nothing is flagged.
    big = _lin_data(40, 40, seed=9)
    con = connect(big)
    stats = segment_statistics(con, spec)
    c = compare(con, spec, spec.outcomes[0], "t", stats[("c", "all", "all")]["y"],
                stats[("t", "all", "all")]["y"], 0.05)  # fmt: skip
    assert c.warnings == ()


@pytest.mark.parametrize("bad", ["constant", "collinear"])
def test_a_bad_covariate_drops_only_its_adjustment(bad: str) -> None:
    df = _lin_data(50, 50, seed=10)
    df["z"] = 1.0 if bad == "constant" else 2 * df.x
    con = connect(df)
    spec = units_spec(covariates=(Covariate("x", (("x", "x"),)), Covariate("z", (("z", "z"),))))
    stats = segment_statistics(con, spec)
    a, b = stats[("c", "all", "all")]["y"], stats[("t", "all", "all")]["y"]
    c = compare(con, spec, spec.outcomes[0], "t", a, b, 0.05)
    adj = c.adjusted
    assert adj is not None and adj.no_estimate_reason is None
    assert adj.covariates == ("x",) and adj.dropped == ("z",)
    assert adj.notes[0].startswith("Covariate 'z' left out of the adjustment")
    assert ("constant in arms 'c' and 't'" in adj.notes[0]) == (bad == "constant")
    # The estimate is Lin's on x alone (statsmodels, centred, HC2).
    t = (df.arm == "t").to_numpy(float)
    xc = df.x.to_numpy() - df.x.mean()
    ref = sm.OLS(df.y.to_numpy(), np.column_stack([np.ones(100), t, xc, t * xc])).fit(
        cov_type="HC2"
    )
    assert adj.effect.estimate == pytest.approx(ref.params[1], rel=1e-9)
    assert adj.effect.se == pytest.approx(ref.bse[1], rel=1e-8)
    # The whole analysis runs (it used to stop on 'regressors are collinear').
    result = analyze_experiment(con, spec)
    assert result.outcomes[0].comparisons[0].absolute.error is None


def test_a_covariate_constant_in_one_arm_is_named() -> None:
    df = _lin_data(30, 30, seed=12)
    df["z"] = np.where(df.arm == "c", 0.0, np.arange(60) % 3)
    con = connect(df)
    spec = units_spec(covariates=(Covariate("x", (("x", "x"),)), Covariate("z", (("z", "z"),))))
    adj = lin(con, spec)
    assert adj is not None and adj.dropped == ("z",)
    assert "constant in arm 'c'" in adj.notes[0]


def test_no_usable_covariate_says_so() -> None:
    df = _lin_data(30, 30, seed=13)
    df["k"] = 4.0
    con = connect(df)
    spec = units_spec(covariates=(Covariate("k", (("k", "k"),)),))
    adj = lin(con, spec)
    assert adj is not None and math.isnan(adj.effect.estimate)
    assert "no covariate is usable" in (adj.no_estimate_reason or "")


def test_fit_ols_drops_optional_collinear_groups_and_matches_statsmodels() -> None:
    df = _lin_data(100, 100, seed=14)
    df["x2"] = 3 * df.x - 1
    con = connect(df)
    regs = [Regressor("const", "1"), Regressor("x", "x"), Regressor("x2", "x2")]
    fit = fit_ols(con, "units", "y", regs, optional=[[1], [2]])
    assert fit.names == ("const", "x") and fit.dropped == ("x2",)
    ref = sm.OLS(df.y.to_numpy(), sm.add_constant(df.x.to_numpy())).fit(cov_type="HC2")
    np.testing.assert_allclose(fit.params, ref.params, rtol=1e-9)
    np.testing.assert_allclose(fit.se(), ref.bse, rtol=1e-8)
    assert fit.max_leverage == pytest.approx(ref.get_influence().hat_matrix_diag.max(), rel=1e-9)
    with pytest.raises(ValueError, match="collinear"):
        fit_ols(con, "units", "y", regs)  # required columns still may not be collinear


def test_segments_leave_out_a_constant_covariate() -> None:
    rng = np.random.default_rng(15)
    n = 400
    df = pd.DataFrame(
        {
            "arm": rng.choice(["c", "t"], n),
            "x": np.r_[rng.normal(0, 1, n // 2), rng.normal(6, 1, n // 2)],
            "k": 1.0,
            "y": rng.normal(0, 1, n),
        }
    )
    spec = units_spec(covariates=(Covariate("x", (("x", "x"),)), Covariate("k", (("k", "k"),))))
    fitted = segment_customers(connect(df), spec)
    assert fitted is not None  # it used to give up on any constant covariate
    seg, _ = fitted
    assert seg.features == ("x",) and "'k' is the same for every unit" in seg.notes[0]


# ---------------------------------------------------------------------------
# The MDE uses the real arm sizes, absolute and relative alike
# ---------------------------------------------------------------------------


def test_relative_mde_uses_the_real_arm_sizes() -> None:
    rng = np.random.default_rng(16)
    n_c, n_t = 300, 2700
    df = pd.DataFrame(
        {"arm": ["c"] * n_c + ["t"] * n_t, "y": (rng.random(n_c + n_t) < 0.3).astype(int)}
    )
    con = connect(df)
    spec = units_spec(outcomes=(Outcome("y", "y", "proportion"),))
    (pw,) = design_power(spec, segment_statistics(con, spec), 0.05)
    p = df.y[df.arm == "c"].mean()
    v = p * (1 - p)
    z = sps.norm.ppf(0.975) + sps.norm.ppf(0.8)
    assert pw.mde_absolute == pytest.approx(z * math.sqrt(v / n_c + v / n_t), rel=1e-12)

    # Hand: the relative lift r with r = z * SE(r), SE from the delta method at these sizes.
    def gap(r: float) -> float:
        return r - z * math.sqrt(v / (p**2 * n_t) + v * (1 + r) ** 2 / (p**2 * n_c))

    assert pw.mde_relative == pytest.approx(brentq(gap, 1e-6, 5.0, xtol=1e-14), rel=1e-9)
    # Consistent with the absolute MDE: never below it (relative to the mean), and the even
    # split it used to assume gives a different, smaller figure (15.5% here, against 30.6%).
    assert pw.mde_relative >= pw.mde_absolute / p
    even = minimum_detectable_effect(0.8, p, v, n_c + n_t, 2, relative=True).mde
    assert even is not None and even < 0.6 * pw.mde_relative


def test_mde_with_equal_arms_is_unchanged() -> None:
    kw = {"relative": True, "alpha": 0.05}
    old = minimum_detectable_effect(0.8, 2.0, 9.0, 4000, 2, **kw).mde
    new = minimum_detectable_effect(0.8, 2.0, 9.0, 4000, 2, arm_sizes=(2000, 2000), **kw).mde
    assert old == pytest.approx(new, rel=1e-12)


def test_mde_without_control_variance_is_reported_with_a_reason() -> None:
    df = pd.DataFrame({"arm": ["c"] * 12 + ["t"] * 12, "y": np.r_[CONSTANT, VARYING]})
    con = connect(df)
    spec = units_spec()
    (pw,) = design_power(spec, segment_statistics(con, spec), 0.05)
    assert math.isnan(pw.mde_absolute) and "variance is zero" in (pw.no_estimate_reason or "")


# ---------------------------------------------------------------------------
# Wording: no balance claim without covariates; ratios over zero denominators
# ---------------------------------------------------------------------------


def test_no_covariates_means_no_balance_claim() -> None:
    df = _lin_data(40, 40, seed=17)
    result = analyze_experiment(connect(df), units_spec())
    text = " ".join(conclusions(result))
    assert "balanced" not in text
    assert "No pre-treatment covariates were given" in text


def test_a_ratio_over_a_zero_denominator_has_no_estimate_and_no_mean() -> None:
    rng = np.random.default_rng(18)
    df = pd.DataFrame(
        {
            "arm": ["c"] * 30 + ["t"] * 30,
            "m": rng.normal(5, 1, 60),
            "d": np.r_[np.zeros(30), rng.integers(1, 3, 30)],
        }
    )
    spec = units_spec(
        outcomes=(Outcome("m", "m", "mean"), Outcome("r", "m", "ratio", denominator="d"))
    )
    result = analyze_experiment(connect(df), spec)
    m, r = result.outcomes
    assert "denominator sums to zero" in (r.comparisons[0].no_estimate_reason or "")
    assert math.isnan(r.arms[0].mean)  # was 0.00
    assert math.isnan(r.comparisons[0].p_holm)
    assert m.comparisons[0].p_holm == pytest.approx(m.comparisons[0].absolute.p_value)
    assert math.isnan(arm_outcome("c", ratio_stat(np.ones(3), np.zeros(3))).mean)


# ---------------------------------------------------------------------------
# Non-finite data: one clear error naming the column, never a traceback
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "value", "what"),
    [
        ("y", math.inf, "outcome column 'y'"),
        ("y", math.nan, "outcome column 'y'"),
        ("x", -math.inf, "covariate 'x'"),
        ("d", math.inf, "ratio denominator column 'd'"),
    ],
)
def test_non_finite_values_name_the_column(column: str, value: float, what: str) -> None:
    df = _lin_data(20, 20, seed=19)
    df["d"] = 1.0
    df.loc[5, column] = value
    spec = units_spec(
        outcomes=(Outcome("y", "y", "mean"), Outcome("r", "y", "ratio", denominator="d")),
        covariates=(Covariate("x", (("x", "x"),)),),
    )
    with pytest.raises(PushliftError, match=f"{what} holds 1 value that is not finite"):
        analyze_experiment(connect(df), spec)


def test_non_finite_sums_are_an_error_not_an_exception() -> None:
    res = welch_test(SampleMean(5, math.nan, 1.0), mean_stat(VARYING), relative=True)
    assert res.error is not None and res.error.startswith("NON_FINITE")


# ---------------------------------------------------------------------------
# The whole analysis, end to end.
# ---------------------------------------------------------------------------


def test_whole_analysis_with_one_constant_arm() -> None:
    rng = np.random.default_rng(20)
    n = 240
    df = pd.DataFrame(
        {
            "arm": np.repeat(["c", "t"], n // 2),
            "g": np.tile(["a", "b"], n // 2),
            "x": rng.normal(0, 1, n),
        }
    )
    df["y"] = np.where(df.arm == "c", 0.0, rng.gamma(2.0, 3.0, n))  # control never buys
    spec = units_spec(segments=("g",), covariates=(Covariate("x", (("x", "x"),)),))
    result = analyze_experiment(connect(df), spec)
    c = result.outcomes[0].comparisons[0]
    yt = df.y[df.arm == "t"]
    assert c.absolute.estimate == pytest.approx(yt.mean())
    assert c.absolute.se == pytest.approx(yt.std(ddof=1) / math.sqrt(len(yt)))
    assert any("No variation in 'c'" in w for w in c.warnings)
    for s in result.subgroups:
        assert s.no_estimate_reason is None and s.effect.se > 0
    assert result.heterogeneity[0].levels == ("a", "b")
    for s in result.segment_effects:  # customer segments: the same estimator
        assert s.no_estimate_reason is None


def test_whole_analysis_reports_empty_levels_small_arms_and_real_size_mde() -> None:
    rng = np.random.default_rng(21)
    df = pd.DataFrame(
        {
            "arm": ["c"] * 8 + ["t"] * 200,
            "seg": ["a"] * 8 + ["a"] * 150 + ["b"] * 50,
            "y": rng.normal(10.0, 2.0, 208),
        }
    )
    spec = units_spec(segments=("seg",))
    result = analyze_experiment(connect(df), spec)
    c = result.outcomes[0].comparisons[0]
    assert any("'c' has 8 units" in w for w in c.warnings)
    assert [s.value for s in result.subgroups] == ["a", "b"]
    assert result.subgroups[1].no_estimate_reason == "no units in 'c' at this level"
    (pw,) = result.power
    v = df.y[df.arm == "c"].var(ddof=1)
    z = sps.norm.ppf(0.975) + sps.norm.ppf(0.8)
    assert pw.mde_absolute == pytest.approx(z * math.sqrt(v / 8 + v / 200))
    real = minimum_detectable_effect(
        0.8, df.y[df.arm == "c"].mean(), v, 208, relative=True, arm_sizes=(8, 200)
    )
    assert pw.mde_relative == pytest.approx(real.mde)
