"""The careful engagement analysis recovers the simulator's known effect of responding.

A synthetic retailer (`pushlift.sim.engagement`, default model, fixed seed) is written as
sales.csv / outbound.csv / truth.json, imported with the CRM importer into a temporary
store, and analysed with `analyze_engagement`. Like with like:

* outcome: net spend in days 1..W after the first contact (`net_cents_{W}d` in the
  analysis, `net_spend_{W}d` in the simulator; identical per customer, checked below).
  The analysis' `purchases` is a count, the simulator's `purchased` an indicator, so the
  purchase outcome is not compared.
* population and estimand: Lin's regression adjustment and the Hajek IPW both estimate an
  ATE (average over all analysed customers; IPW weights 1/e and 1/(1-e)), and the analysis
  keeps only contacted customers with a purchase in the year before contact (so it drops
  many occasional buyers, whose effect is larger). truth.json's sample_ate/att are over
  all contacted customers, so the truth here is the sample ATE, mean of Y(1) - Y(0) from
  the simulator's potential outcomes, over exactly the analysed customers (phones).
* naive: the analysis' own unadjusted responder minus non-responder difference, same
  customers and window.

Observed (80,000 customers, seeds 1, 2, 3; truth / naive / RA / IPW, RA 95% CI):
  7d:  5.11 / 7.69 / 5.43 / 5.49 [3.49, 7.36];  4.35 / 7.56 / 5.62 / 5.61 [3.79, 7.45];
       4.80 / 7.53 / 5.70 / 5.73 [3.73, 7.66]
  30d: 8.36 / 20.79 / 11.88 / 11.88 [8.33, 15.43];  7.41 / 23.62 / 14.16 / 14.13
       [10.66, 17.66];  7.96 / 24.37 / 14.19 / 14.19 [10.40, 17.97]
So "adjusted closer than naive" holds with wide margins in both windows (naive bias 2.4-3.2
at 7d vs adjusted 0.3-1.3; 12-16 at 30d vs 3.5-6.8), and 7d coverage holds in every seed
with the truth well inside the interval. At 30 days the adjusted estimates keep a
residual bias of about +4 to +7 dollars, so the 95% interval missed the truth in two of
three seeds: there is no 30-day coverage test. Why (README, "Engagement analysis"): the
simulator's response depends on the frequency tier, spend level and home channel, which
pre-contact spend and purchase counts measure only with Poisson noise; adjusting for a
noisy proxy leaves part of the confounding (on 400,000 customers, the adjusted difference
of Y(0) is +5.3 to +5.6 at 30 days; adjusting for the true traits, -0.7 to +0.5; richer
proxies such as whole-history rates, count dummies, log spend, basket size and online
share, +4.2 to +4.5). It is measurement error, which no choice of covariates removes, so
it is documented rather than tuned away.
The test uses 40,000 customers, seed 1 (5,331 analysed, ~12 s, mostly the import):
  7d:  4.42 / 6.90 / 4.63 [2.21, 7.05] / 4.77 [2.35, 7.19]
  30d: 7.92 / 19.56 / 9.34 [4.31, 14.37] / 9.40 [4.37, 14.42] (covers here: wider CI).
(IPW intervals from the stacked sandwich; with the propensities treated as known they were
[2.33, 7.21] and [4.19, 14.61].)
"""

from __future__ import annotations

import functools
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sim_customers import customer_table

from pushlift.analysis.engagement import analyze_engagement
from pushlift.analysis.engagement_data import fetch_customers
from pushlift.analysis.engagement_results import AdjustedComparison, EngagementResult
from pushlift.ingest.crm import import_crm
from pushlift.sim.engagement import EngagementData, EngagementModel, simulate
from pushlift.sim.engagement_files import write_files
from pushlift.store import Store

CUSTOMERS, SEED = 40_000, 1


@functools.cache
def analysed_sim() -> tuple[EngagementData, EngagementResult, dict[str, np.ndarray], Any]:
    """The simulated dataset, its analysis, customer table and truth.json, via CSV import."""
    data = simulate(CUSTOMERS, SEED, EngagementModel())
    directory = Path(tempfile.mkdtemp(prefix="pushlift-recovery-"))
    paths = write_files(data, directory)
    store = Store.open(directory / "crm.duckdb")
    try:
        import_crm(store, paths["sales.csv"], paths["outbound.csv"])
        result = analyze_engagement(store.con)
        table = fetch_customers(store.con)
    finally:
        store.close()
    return data, result, table, json.loads(paths["truth.json"].read_text())


@functools.cache
def recovered() -> dict[int, dict[str, Any]]:
    """Per window: the adjusted comparison of net spend and the matched true ATE."""
    data, result, table, truth = analysed_sim()
    cust = data.customers
    row_of_phone = {int(p): i for i, p in enumerate(cust["phone"]) if cust["has_phone"][i]}
    rows = np.array([row_of_phone[int(p)] for p in table["phone_key"]])
    out: dict[int, dict[str, Any]] = {}
    for a in result.adjusted:
        if a.outcome != "net_spend":
            continue
        o = f"net_spend_{a.window}d"
        y0, y1 = cust[f"y0_{o}"][rows], cust[f"y1_{o}"][rows]
        observed = np.where(cust["responded"][rows], y1, y0)
        out[a.window] = {
            "comparison": a,
            "ate": float((y1 - y0).mean()),
            "observed": observed,
            "table": table[f"net_cents_{a.window}d"] / 100.0,
            "responded": table["responded"],
            "sim_responded": cust["responded"][rows],
            "truth_json": truth["outcomes"][o],
        }
    return out


def test_numpy_customer_table_matches_the_sql_one() -> None:
    """The calibration tests' shortcut (`sim_customers`) builds the same customer table."""
    data, _, table, _ = analysed_sim()
    mine = customer_table(data)
    order = np.argsort(table["phone_key"].astype(np.int64))
    assert mine["phone_key"].tolist() == table["phone_key"][order].astype(np.int64).tolist()
    for name in ("responded", "pre_purchases", "pre_net_cents", "net_cents_7d",
                 "net_cents_30d", "location_key"):
        np.testing.assert_array_equal(mine[name], table[name][order], err_msg=name)


def _estimates(a: AdjustedComparison) -> dict[str, Any]:
    return {"naive": a.unadjusted, "regression": a.regression_adjusted, "ipw": a.ipw.effect}


@pytest.mark.parametrize("window", [7, 30])
def test_same_customers_and_outcome_as_the_simulator(window: int) -> None:
    r = recovered()[window]
    assert len(r["table"]) > 3_000
    np.testing.assert_array_equal(r["responded"].astype(bool), r["sim_responded"])
    np.testing.assert_allclose(r["table"], r["observed"], atol=0.005)


@pytest.mark.parametrize("window", [7, 30])
def test_adjusted_closer_than_naive(window: int) -> None:
    r = recovered()[window]
    est = _estimates(r["comparison"])
    naive_error = abs(est["naive"].estimate - r["ate"])
    for name in ("regression", "ipw"):
        assert abs(est[name].estimate - r["ate"]) < naive_error, (name, est, r["ate"])
    # The naive difference overstates the effect (responders are the frequent buyers).
    assert est["naive"].estimate > r["ate"]


def test_adjusted_interval_covers_truth_7d() -> None:
    r = recovered()[7]
    for name in ("regression", "ipw"):
        e = _estimates(r["comparison"])[name]
        assert e.ci_low <= r["ate"] <= e.ci_high, (name, e, r["ate"])


# No 30-day coverage test: with 80,000 customers the adjusted 95% CI missed the truth in
# 2 of 3 seeds. The cause is residual confounding through noisily measured traits (see the
# module docstring), not the interval: test_ipw_variance shows the IPW interval calibrated
# when the covariates do capture the confounding.
