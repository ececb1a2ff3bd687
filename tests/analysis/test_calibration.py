"""Calibration: over many simulated experiments, 95% intervals cover the true effect ~95%.

Each replicate simulates a fresh mall week with a known effect, computes the per-consumer
outcomes in SQL and runs the same estimators as the analysis. With 1,000 replicates the
coverage of a calibrated interval lies in [93%, 97%] with probability above 99.5%, so a
failure means miscalibration, not bad luck. (Seeds are fixed, so the test is repeatable.)
"""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from pushlift.analysis.effects import adjusted_effect
from pushlift.analysis.mall import MALL_COVARIATES, MALL_OUTCOMES
from pushlift.analysis.moments import segment_statistics
from pushlift.analysis.spec import ExperimentSpec
from pushlift.analysis.stats import welch_test
from pushlift.sim import mall

REPLICATES = 1000
CONSUMERS = 3000


def _units(week: mall.MallWeek) -> pa.Table:
    p = week.purchase
    n = len(week.consumer["consumer_id"])
    further = p["store_seq"] >= 2
    sales = (
        np.bincount(p["consumer_id"][further] - 1, weights=p["amount_cents"][further], minlength=n)
        / 100
    )
    return pa.table(
        {
            "arm": week.assignment["arm"].astype(str),
            "age": week.consumer["age"].astype(float),
            "female": (week.consumer["gender"] == "F").astype(int),
            "high_loyalty": (week.consumer["loyalty_status"] == 2).astype(int),
            "from_second_store_sales": sales,
            "made_second_purchase": (sales > 0).astype(int),
        }
    )


def _coverage(block: range) -> dict[str, list[bool]]:
    model = mall.MallModel()
    truth = {(r["outcome"], r["segment"], r["segment_value"]): r for r in mall.true_effects(model)}
    spec = ExperimentSpec(
        relation="units",
        arm="arm",
        control="control",
        arms=("control", "message"),
        outcomes=MALL_OUTCOMES,
        covariates=MALL_COVARIATES,
    )
    hits: dict[str, list[bool]] = {}
    con = duckdb.connect()
    for seed in block:
        con.register("units", _units(mall.simulate_week(CONSUMERS, 10_000 + seed, model)))
        stats = segment_statistics(con, spec)
        for o in spec.outcomes:
            row = truth[(o.name, "all", "all")]
            true_abs = row["treatment_mean"] - row["control_mean"]
            true_rel = true_abs / row["control_mean"]
            a, b = (
                stats[("control", "all", "all")][o.name],
                stats[("message", "all", "all")][o.name],
            )
            absolute = welch_test(a, b, relative=False)
            relative = welch_test(a, b, relative=True)
            hits.setdefault(f"{o.name}/absolute", []).append(
                absolute.ci_low <= true_abs <= absolute.ci_high
            )
            hits.setdefault(f"{o.name}/relative", []).append(
                relative.ci_low <= true_rel <= relative.ci_high
            )
            adj = adjusted_effect(con, spec, o, "message", absolute, 0.05)
            if adj is not None:
                hits.setdefault(f"{o.name}/adjusted", []).append(
                    adj.effect.ci_low <= true_abs <= adj.effect.ci_high
                )
        con.unregister("units")
    return hits


@pytest.mark.slow
@pytest.mark.parametrize("half", [0, 1])
def test_intervals_cover_the_truth_95_percent(half: int) -> None:
    """Two halves of 500 so pytest-xdist runs them on both cores; each half is checked."""
    half_size = REPLICATES // 2
    hits = _coverage(range(half * half_size, (half + 1) * half_size))
    for name, h in hits.items():
        assert len(h) == half_size
        coverage = float(np.mean(h))
        # Per half (500 replicates) the band is wider: 92.5%-97.5% (> 99% for a calibrated CI).
        assert 0.925 <= coverage <= 0.975, f"{name}: coverage {coverage:.3f}"
