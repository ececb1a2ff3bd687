"""The IPW standard error accounts for the estimated propensities (stacked M-estimation).

Checked three ways: against an independent stacked-sandwich computation (statsmodels'
logistic fit, estimating equations written out, Jacobian by finite differences); against a
bootstrap of the whole procedure; and by calibration: 95% intervals cover the truth about
95% of the time, on a confounded textbook design and on the engagement simulator.
"""

from __future__ import annotations

import numpy as np
import pytest
from sim_customers import customer_table
from stacked_ipw import bootstrap_ipw_se, stacked_ipw

from pushlift.analysis.propensity import fit_logit, ipw_effect
from pushlift.sim.engagement import EngagementModel, simulate

TRIM = (0.05, 0.95)
TRUE_EFFECT = 2.0


def _draw(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Confounded units: x drives both treatment and outcome; skewed, heteroskedastic y."""
    z = rng.normal(size=n)
    b = (rng.random(n) < 0.4).astype(float)
    s = rng.exponential(1.0, n)
    x = np.column_stack([np.ones(n), z, b, s])
    t = (rng.random(n) < 1 / (1 + np.exp(-(-0.3 + 0.8 * z + 0.7 * b - 0.5 * s)))).astype(float)
    y = 1 + 2 * z + 1.5 * b + 3 * s + TRUE_EFFECT * t + rng.normal(size=n) * (1 + s)
    return x, t, y


def _pushlift_ipw(x: np.ndarray, t: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    logit = fit_logit(x, t, tuple(f"x{j}" for j in range(x.shape[1])))
    e = logit.predict(x)
    keep = (e >= TRIM[0]) & (e <= TRIM[1])
    r = ipw_effect(y, t.astype(int), x, logit, keep).effect
    return r.estimate, r.se, r.ci_low


def test_matches_an_independent_stacked_sandwich() -> None:
    x, t, y = _draw(np.random.default_rng(7), 1_500)
    est, se, _ = _pushlift_ipw(x, t, y)
    ref_est, ref_se = stacked_ipw(x, t, y, TRIM)
    assert est == pytest.approx(ref_est, rel=1e-9)
    assert se == pytest.approx(ref_se, rel=1e-5)


def test_agrees_with_a_bootstrap_of_the_whole_procedure() -> None:
    # 400 resamples know the bootstrap SD to about 3.5%; the bootstrap also re-decides the
    # trimming and runs a little wide on skewed outcomes (here 0.192 against 0.174, and
    # the Monte Carlo SD of the estimate at this size is about 0.173).
    x, t, y = _draw(np.random.default_rng(8), 1_500)
    _, se, _ = _pushlift_ipw(x, t, y)
    boot = bootstrap_ipw_se(x, t, y, reps=400, seed=3, trim=TRIM)
    assert se == pytest.approx(boot, rel=0.15)


def test_coverage_on_a_confounded_design() -> None:
    """1,000 datasets of 800 units: 95% intervals cover the true effect 92.5-97.5% of the
    time (observed 93.1%; the old known-weights error covered 99.9%, far too wide here), and
    the root mean square SE is within 7% of the estimates' Monte Carlo SD."""
    rng = np.random.default_rng(2024)
    estimates, ses = [], []
    for _ in range(1_000):
        x, t, y = _draw(rng, 800)
        est, se, _ = _pushlift_ipw(x, t, y)
        estimates.append(est)
        ses.append(se)
    est_a, se_a = np.array(estimates), np.array(ses)
    coverage = np.mean(np.abs(est_a - TRUE_EFFECT) <= 1.959964 * se_a)
    assert 0.925 <= coverage <= 0.975, coverage
    assert np.sqrt(np.mean(se_a**2)) == pytest.approx(est_a.std(ddof=1), rel=0.07)


def test_coverage_on_the_engagement_simulator() -> None:
    """150 simulated retailers (20,000 customers, about 2,600 analysed each).

    Response is made independent of the customer's traits (tier, spend level, home), so
    pre-contact covariates leave no confounding and the only question is the variance;
    with the default model the adjustment is biased at 30 days (see the recovery test).
    Covariates: pre-contact net spend and purchases (the contact location means nothing in
    the simulator, and its many small dummies can separate in a run with few responders).
    Truth: the mean true effect over the analysed customers kept by trimming. With 150
    runs a 95% coverage has a standard error of 1.8 points: the band is 90-99% (observed:
    94.0% at 7 days, 93.3% at 30 days; about 30 s).
    """
    model = EngagementModel(response_logit_tier=(0.0, 0.0, 0.0),
                            response_logit_high_spend=0.0, response_logit_online=0.0)
    hits = {7: [], 30: []}
    for seed in range(150):
        c = customer_table(simulate(20_000, seed, model))
        x = np.column_stack([np.ones(len(c["responded"])), c["pre_net_cents"] / 1e4,
                             c["pre_purchases"]])
        t = c["responded"]
        logit = fit_logit(x, t.astype(float), ("const", "pre_net_spend_100", "pre_purchases"))
        e = logit.predict(x)
        keep = (e >= TRIM[0]) & (e <= TRIM[1])
        for w in hits:
            r = ipw_effect(c[f"net_cents_{w}d"] / 100.0, t, x, logit, keep).effect
            hits[w].append(r.ci_low <= c[f"tau_{w}"][keep].mean() <= r.ci_high)
    for w, h in hits.items():
        assert 0.90 <= np.mean(h) <= 0.99, (w, np.mean(h))
