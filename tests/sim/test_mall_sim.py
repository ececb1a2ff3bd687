"""The mall simulator: realistic population, known truth, determinism, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from pushlift.sim import mall


def _per_consumer_sales(week: mall.MallWeek) -> np.ndarray:
    p = week.purchase
    n = len(week.consumer["consumer_id"])
    further = p["store_seq"] >= 2
    return (
        np.bincount(p["consumer_id"][further] - 1, weights=p["amount_cents"][further], minlength=n)
        / 100
    )


def test_population_matches_the_brief() -> None:
    week = mall.simulate_week(20_000, 3, mall.MallModel())
    c = week.consumer
    assert np.mean(c["gender"] == "F") == pytest.approx(0.76, abs=0.01)
    assert np.mean(c["loyalty_status"] == 2) == pytest.approx(0.64, abs=0.01)
    assert c["age"].min() >= 18 and c["age"].max() <= 79
    control = week.assignment["arm"] == "control"
    assert control.mean() == pytest.approx(0.5, abs=0.01)
    sales = _per_consumer_sales(week)[control]
    # Heavy-tailed with many zeros: mean about $35, sd about $90 (the real data's shape).
    assert 30 < sales.mean() < 40
    assert 75 < sales.std() < 105
    assert np.mean(sales == 0) > 0.6
    # Exactly one trigger (first purchase) per trip, and a decision for each.
    assert (week.purchase["store_seq"] == 1).sum() == len(week.trip["trip_id"])
    assert len(week.notification["notification_id"]) == len(week.trip["trip_id"])
    assert np.array_equal(week.notification["delivered"], week.notification["arm"] == "message")


def test_closed_form_truth_matches_a_large_simulation() -> None:
    """The analytic expected outcomes are what the simulator actually produces."""
    model = mall.MallModel()
    n = 400_000
    week = mall.simulate_week(n, 11, model)
    sales = _per_consumer_sales(week)
    bought = sales > 0
    truth = {(r["outcome"], r["segment"], r["segment_value"]): r for r in mall.true_effects(model)}
    arm = week.assignment["arm"]
    for outcome, values in (
        ("from_second_store_sales", sales),
        ("made_second_purchase", bought.astype(float)),
    ):
        row = truth[(outcome, "all", "all")]
        for arm_name, expected in (
            ("control", row["control_mean"]),
            ("message", row["treatment_mean"]),
        ):
            v = values[arm == arm_name]
            se = v.std() / np.sqrt(v.size)
            assert abs(v.mean() - expected) < 4 * se, (outcome, arm_name, v.mean(), expected)


def test_same_seed_same_week_and_different_seed_differs() -> None:
    a = mall.simulate_week(500, 9, mall.MallModel())
    b = mall.simulate_week(500, 9, mall.MallModel())
    c = mall.simulate_week(500, 10, mall.MallModel())
    assert np.array_equal(a.purchase["amount_cents"], b.purchase["amount_cents"])
    assert np.array_equal(a.assignment["arm"], b.assignment["arm"])
    assert not np.array_equal(a.assignment["arm"], c.assignment["arm"])


def test_effect_spec_parsing_and_errors() -> None:
    assert mall.parse_effect("0.03").terms == {"base": 0.03}
    spec = mall.parse_effect("base=0.01, loyalty_high=0.05")
    assert spec.uplift(female=True, high_loyalty=True, band=0) == pytest.approx(0.06)
    assert spec.uplift(female=True, high_loyalty=False, band=0) == pytest.approx(0.01)
    with pytest.raises(ValueError, match="loyalty_hi"):
        mall.parse_effect("loyalty_hi=0.02")
    with pytest.raises(ValueError, match="must be a number"):
        mall.parse_effect("base=lots")
    with pytest.raises(ValueError, match="within \\[0, 1\\]"):
        mall.MallModel(effect=mall.parse_effect("0.9")).cells()


def test_null_effect_gives_zero_truth() -> None:
    model = mall.MallModel(effect=mall.parse_effect("0"))
    for row in mall.true_effects(model):
        assert row["treatment_mean"] == pytest.approx(row["control_mean"])
