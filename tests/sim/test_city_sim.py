"""The closed-loop city: people respond to what the engine delivers, by the stated amount."""

from __future__ import annotations

import math

import pytest

from pushlift.sim.city import simulate_city
from pushlift.store import Store

# Per delivered notification: did the recipient buy at the offer's vendor within 24 hours?
CONVERTED = """
SELECT count(*), avg(CASE WHEN EXISTS (
         SELECT 1 FROM event p
         WHERE p.kind = 'purchase' AND p.consumer_id = n.consumer_id
           AND p.vendor_id = n.vendor_id
           AND p.event_time > n.event_time
           AND p.event_time <= n.event_time + INTERVAL 24 HOUR) THEN 1.0 ELSE 0.0 END)
FROM notification n
WHERE n.experiment_id = 'city-holdout' AND n.delivered
"""
PURCHASES_PER_ARM = """
SELECT a.arm, count(*), avg(coalesce(k, 0)), var_samp(coalesce(k, 0))
FROM assignment a
LEFT JOIN (SELECT consumer_id, count(*) AS k FROM event WHERE kind = 'purchase'
           GROUP BY consumer_id) p ON p.consumer_id = a.unit_id
WHERE a.experiment_id = 'city-holdout'
GROUP BY a.arm
"""


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Store:
    store = Store.open(tmp_path_factory.mktemp("city") / "city.duckdb")
    simulate_city(store, 4000, 3, seed=7)
    return store


def truth(store: Store, outcome: str) -> tuple[float, float]:
    return store.con.execute(
        "SELECT control_mean, treatment_mean FROM true_effect "
        "WHERE experiment_id = 'city-holdout' AND outcome = ? AND segment = 'all'",
        [outcome],
    ).fetchall()[0]


def test_holdout_comparison_covers_the_true_effect(city: Store) -> None:
    """Treatment arm minus holdout arm, purchases per subscriber: an unbiased estimate of
    the purchases the messages caused, whose expectation the simulator knows."""
    arms = {
        arm: (n, mean, var) for arm, n, mean, var in city.con.execute(PURCHASES_PER_ARM).fetchall()
    }
    (n1, m1, v1), (n0, m0, v0) = arms["treatment"], arms["holdout"]
    control, treated = truth(city, "purchases_per_subscriber")
    assert treated - control > 0.03  # the response model really moves purchases
    se = math.sqrt(v1 / n1 + v0 / n0)
    assert abs((m1 - m0) - (treated - control)) < 2.58 * se


def test_delivered_messages_convert_at_the_stated_rate(city: Store) -> None:
    n, rate = city.con.execute(CONVERTED).fetchall()[0]
    without, with_message = truth(city, "conversion_24h")
    assert with_message - without > 0.05
    se = math.sqrt(with_message * (1 - with_message) / n)
    assert abs(rate - with_message) < 2.58 * se
    # Un-notified behaviour alone would give `without`, far below what is observed.
    assert rate - without > 5 * se


def test_holdout_receives_nothing_and_budgets_hold(city: Store) -> None:
    leaks = city.con.execute(
        "SELECT count(*) FROM notification n JOIN assignment a "
        "ON a.experiment_id = n.experiment_id AND a.unit_id = n.consumer_id "
        "WHERE (a.arm = 'holdout') = n.delivered"
    ).fetchall()[0][0]
    assert leaks == 0
    over = city.con.execute(
        "SELECT count(*) FROM (SELECT n.offer_id, sum(n.price_cents) AS spent, "
        "any_value(o.budget_cents) AS budget FROM notification n JOIN offer o USING (offer_id) "
        "WHERE n.delivered GROUP BY n.offer_id) WHERE spent > budget"
    ).fetchall()[0][0]
    assert over == 0
    # Budgets bind somewhere, so the check above is not vacuous.
    blocked = city.con.execute(
        "SELECT sum(events) FROM decision_count WHERE outcome = 'budget'"
    ).fetchall()[0][0]
    assert blocked > 0


def test_same_seed_same_notifications() -> None:
    def run(seed: int) -> list[tuple]:
        store = Store.open(":memory:")
        simulate_city(store, 300, 2, seed=seed)
        return store.con.execute(
            "SELECT notification_id, offer_id, price_cents, delivered, epoch_us(event_time) "
            "FROM notification ORDER BY notification_id"
        ).fetchall()

    first = run(3)
    assert first and run(3) == first
    assert run(4) != first


def test_a_new_city_keeps_the_mall_weeks_engine_counts() -> None:
    from pushlift.sim import mall

    store = Store.open(":memory:")
    model = mall.MallModel()
    mall.write_week(store, mall.simulate_week(300, 3, model), model, replace=False)
    mall_hours = "SELECT count(*), sum(events) FROM decision_count WHERE hour < '2020-01-01'"
    before = store.con.execute(mall_hours).fetchall()
    assert before[0][0] > 0
    for _ in range(2):  # the second city replaces the first, counts included
        simulate_city(store, 200, 1, seed=4)
    assert store.con.execute(mall_hours).fetchall() == before
    city = "SELECT sum(events) FROM decision_count WHERE hour >= '2026-01-01'"
    events = "SELECT count(*) FROM event WHERE consumer_id > 100000000"
    assert store.con.execute(city).fetchall() == store.con.execute(events).fetchall()
