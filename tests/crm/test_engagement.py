"""The careful engagement analysis on the real exports: documented figures, and every
estimator checked against an independent implementation on the same customer table."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from crm_data import imported
from scipy import stats as sps
from stacked_ipw import stacked_ipw

from pushlift.analysis import engagement
from pushlift.analysis.engagement import _time_to_purchase, analyze_engagement
from pushlift.analysis.engagement_data import fetch_customers
from pushlift.analysis.engagement_results import EngagementResult
from pushlift.store import Store


@functools.cache
def analysed() -> tuple[EngagementResult, dict[str, np.ndarray], pd.DataFrame, pd.DataFrame]:
    """The result, its customer table, and the raw stored lines and conversations."""
    store = Store.open(imported()[0])
    try:
        result = analyze_engagement(store.con)
        customers = fetch_customers(store.con)
        lines = store.con.execute(
            """SELECT phone_key, transaction_key, amount_cents, is_return, line_no,
                      CAST(order_time AT TIME ZONE 'UTC' AS DATE) AS d
               FROM crm_sale_line"""
        ).df()
        conv = store.con.execute(
            """SELECT phone_key, conversation_key, n_messages, has_response, contact_time,
                      CAST(contact_time AT TIME ZONE 'UTC' AS DATE) AS d
               FROM crm_conversation"""
        ).df()
    finally:
        store.close()
    return result, customers, lines, conv


def test_flow_of_customers() -> None:
    f = analysed()[0].flow
    assert (f.contacted_phones, f.conversations) == (1_375, 4_819)
    assert (f.excluded_shared_phone, f.excluded_not_linkable, f.excluded_incomplete_window) == (
        3, 356, 111)
    assert (f.customers, f.responders) == (905, 566)
    assert f.customers == f.contacted_phones - 3 - 356 - 111
    assert (f.sales_first, f.sales_last) == ("2023-01-01", "2024-12-31")


def test_documented_figures() -> None:
    r = analysed()[0]
    g = {(x.window, x.group): x for x in r.groups}
    assert g[30, "responded"].mean_net_spend == pytest.approx(103.36, abs=0.005)
    assert g[30, "did not respond"].mean_net_spend == pytest.approx(72.07, abs=0.005)
    assert g[7, "responded"].mean_net_spend == pytest.approx(25.18, abs=0.005)
    assert g[7, "did not respond"].mean_net_spend == pytest.approx(15.35, abs=0.005)
    a = {(x.window, x.outcome): x for x in r.adjusted}[30, "net_spend"]
    assert a.unadjusted.estimate == pytest.approx(31.29, abs=0.005)
    assert (a.unadjusted.ci_low, a.unadjusted.ci_high) == pytest.approx((7.27, 55.32), abs=0.01)
    assert a.regression_adjusted.estimate == pytest.approx(5.25, abs=0.005)
    assert a.ipw.effect.estimate == pytest.approx(0.91, abs=0.005)
    assert r.overlap.trimmed_treated + r.overlap.trimmed_control == 8
    assert r.power.mde_absolute == pytest.approx(34.29, abs=0.005)
    assert r.power.customers_for_10pct_lift == 12_668
    t = {x.group: x for x in r.time_to_purchase}
    assert (t["responded"].median_days, t["did not respond"].median_days) == (42.0, 63.0)
    assert "self-selected" in r.statements[2]
    assert "Only a randomized test" in r.statements[4]


def test_customer_outcomes_match_an_independent_pandas_computation() -> None:
    """Rebuild day 0 and the 30-day net spend from the stored lines, without the SQL."""
    _, c, lines, conv = analysed()
    first = conv.sort_values(["contact_time", "conversation_key"]).groupby("phone_key").first()
    tx = lines.groupby("transaction_key").agg(
        gross=("amount_cents", lambda a: a[a >= 0].sum()),
        returned=("amount_cents", lambda a: -a[a < 0].sum()),
        d=("d", "min"),
        sales=("is_return", lambda r: int((~r).sum())),
    )
    owner = lines.sort_values(["is_return", "line_no"]).groupby("transaction_key").phone_key.first()
    tx = tx.join(owner)[lambda t: t.sales > 0]
    tx["net"] = (tx.gross - tx.returned).clip(lower=0)
    merged = tx.merge(first[["d"]].rename(columns={"d": "d0"}), left_on="phone_key",
                      right_index=True)
    days = (pd.to_datetime(merged.d) - pd.to_datetime(merged.d0)).dt.days
    net30 = merged[(days >= 1) & (days <= 30)].groupby("phone_key").net.sum()
    expected = net30.reindex(c["phone_key"], fill_value=0).to_numpy()
    np.testing.assert_array_equal(c["net_cents_30d"], expected)
    pre = merged[(days < 0) & (days >= -365)].groupby("phone_key").size()
    np.testing.assert_array_equal(c["pre_purchases"], pre.reindex(c["phone_key"], fill_value=0))


def test_regression_matches_statsmodels_hc2() -> None:
    r, c, _, _ = analysed()
    x = sm.add_constant(np.column_stack([c["n_messages"], c["responded"]]).astype(float))
    for outcome, y in (("net spend ($)", c["net_cents_30d"] / 100), ("purchases",
                                                                      c["purchases_30d"])):
        ref = sm.OLS(y.astype(float), x).fit(cov_type="HC2")
        mine = next(m for m in r.regressions if m.outcome == outcome and m.window == 30)
        np.testing.assert_allclose([co.effect.estimate for co in mine.coefficients], ref.params,
                                   rtol=1e-9)
        np.testing.assert_allclose([co.effect.se for co in mine.coefficients], ref.bse,
                                   rtol=1e-7)
        assert mine.r_squared == pytest.approx(ref.rsquared, rel=1e-9)
        assert mine.n == 905


def _design(c: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    covs = engagement._covariates(c)
    return np.column_stack([np.ones(len(c["responded"])), *covs.values()]), np.array(
        list(covs.values())).T


def test_regression_adjustment_matches_statsmodels() -> None:
    r, c, _, _ = analysed()
    t = c["responded"].astype(float)
    _, covs = _design(c)
    centred = covs - covs.mean(axis=0)
    x = np.column_stack([np.ones(len(t)), t, centred, centred * t[:, None]])
    ref = sm.OLS(c["net_cents_30d"] / 100, x).fit(cov_type="HC2")
    a = next(x for x in r.adjusted if x.window == 30 and x.outcome == "net_spend")
    assert a.regression_adjusted.estimate == pytest.approx(ref.params[1], rel=1e-8)
    assert a.regression_adjusted.se == pytest.approx(ref.bse[1], rel=1e-6)


def test_propensity_and_ipw_match_statsmodels_glm_and_wls() -> None:
    r, c, _, _ = analysed()
    t = c["responded"].astype(float)
    x, covs = _design(c)
    glm = sm.GLM(t, x, family=sm.families.Binomial()).fit()
    np.testing.assert_allclose(r.propensity.params, glm.params, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(r.propensity.se, glm.bse, rtol=1e-6)
    e = glm.predict(x)
    np.testing.assert_allclose(r.charts.propensity, e, rtol=1e-6)
    keep = (e >= 0.05) & (e <= 0.95)
    assert int((~keep).sum()) == 8
    w = np.where(t == 1, 1 / e, 1 / (1 - e))[keep]
    y = (c["net_cents_30d"] / 100)[keep]
    wls = sm.WLS(y, sm.add_constant(t[keep]), weights=w).fit(cov_type="HC1")
    a = next(x for x in r.adjusted if x.window == 30 and x.outcome == "net_spend")
    assert a.ipw.effect.estimate == pytest.approx(wls.params[1], rel=1e-6)
    # The error accounts for the estimated propensities: the stacked sandwich, computed
    # independently (finite-difference Jacobian), not the weighted regression's HC1.
    est, se = stacked_ipw(x, t, c["net_cents_30d"] / 100)
    assert a.ipw.effect.estimate == pytest.approx(est, rel=1e-8)
    assert a.ipw.effect.se == pytest.approx(se, rel=1e-5)
    assert a.ipw.effect.se == pytest.approx(15.71, abs=0.005)  # known weights: 19.33
    # Hajek means are the weighted group means.
    tk = t[keep]
    assert a.ipw.mean_treated == pytest.approx(np.average(y[tk == 1], weights=w[tk == 1]))
    # Effective sample size and a standardized difference, by hand.
    w1 = w[tk == 1]
    assert r.overlap.ess_treated == pytest.approx(w1.sum() ** 2 / (w1**2).sum())
    pre = c["pre_purchases"].astype(float)
    sd = np.sqrt((pre[t == 1].var(ddof=1) + pre[t == 0].var(ddof=1)) / 2)
    smd = (pre[t == 1].mean() - pre[t == 0].mean()) / sd
    bal = next(b for b in r.overlap.balance if b.covariate == "pre_purchases")
    assert bal.smd_before == pytest.approx(smd)
    assert abs(bal.smd_after) < abs(bal.smd_before)


def test_unadjusted_difference_is_welch() -> None:
    r, c, _, _ = analysed()
    y, t = c["net_cents_7d"] / 100, c["responded"]
    ref = sps.ttest_ind(y[t == 1], y[t == 0], equal_var=False)
    a = next(x for x in r.adjusted if x.window == 7 and x.outcome == "net_spend")
    assert a.unadjusted.estimate == pytest.approx(y[t == 1].mean() - y[t == 0].mean())
    assert a.unadjusted.p_value == pytest.approx(ref.pvalue, rel=1e-9)


def test_kaplan_meier_known_answer() -> None:
    # Five customers: buys on day 2, 4, 4; censored at 3 and 10 (no purchase in follow-up).
    c = {"days_to_first_purchase": np.array([2.0, np.nan, 4.0, 4.0, np.nan]),
         "follow_up_days": np.array([100, 3, 100, 100, 10])}
    km = _time_to_purchase(c, np.ones(5, dtype=bool), "all")
    # S(2) = 4/5; S(4) = 4/5 * (1 - 2/3) = 4/15 (3 at risk on day 4 after one censored at 3).
    assert km.share_bought_by_day[7] == pytest.approx(1 - 4 / 15)
    assert km.median_days == 4.0 and km.buyers == 3
