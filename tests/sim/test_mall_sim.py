"""The mall simulator: realistic population, known truth, determinism, clear errors."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pytest

from pushlift.assignment import assign_arms
from pushlift.engine.config import EngineConfig
from pushlift.engine.engine import DELIVERED, HELD_OUT, Engine
from pushlift.engine.plan import Plan
from pushlift.sim import mall, mall_engine
from pushlift.sim.city import CITY_ID_BASE
from pushlift.store import Store


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
    # Exactly one trigger (first purchase) per trip, and an engine decision for each.
    assert (week.purchase["store_seq"] == 1).sum() == len(week.trip["trip_id"])
    assert len(week.decided.decisions.position) == len(week.trip["trip_id"])
    trip_arm = week.assignment["arm"][week.trip["consumer_id"] - 1]
    assert np.array_equal(week.decided.delivered(), trip_arm == "message")


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


# -- the engine sends the message --------------------------------------------------------


def _stored(n: int = 1500, seed: int = 4, model: mall.MallModel | None = None) -> Store:
    model = model or mall.MallModel()
    store = Store.open(":memory:")
    mall.write_week(store, mall.simulate_week(n, seed, model), model, replace=False)
    return store


def _rows(store: Store, sql: str) -> list[tuple]:
    return store.con.execute(sql).fetchall()


NOTES = (
    "SELECT notification_id, event_id, consumer_id, offer_id, vendor_id, zone_id, experiment_id,"
    " arm, delivered, bid_cents, price_cents, runner_up_bid_cents, eligible_offers, reason,"
    " content, epoch_us(event_time), epoch_us(ingest_time) FROM notification"
    " ORDER BY notification_id"
)


def test_engine_assigns_the_arms_of_the_assignment_table() -> None:
    seed = 17
    ids = np.arange(1, 5001, dtype=np.int64)
    engine = Engine(Plan(mall_engine.mall_config(seed)))
    dense = engine.state.subscribers(ids)
    names = np.array(mall.ARMS, dtype=object)[engine.state.arm[0, dense]]
    expected = assign_arms(mall.EXPERIMENT_ID, ids, mall.ARMS, (0.5, 0.5), seed=seed)
    assert np.array_equal(names, expected)
    assert engine.plan.arm_holdout[0][0] and not engine.plan.arm_holdout[0][1]


def test_one_engine_notification_per_trip_delivered_iff_message_arm() -> None:
    store = _stored()
    per_trip = _rows(
        store,
        """SELECT count(*), count(n.notification_id), count(DISTINCT n.notification_id)
           FROM purchase p LEFT JOIN notification n ON n.event_id = p.purchase_id
           WHERE p.store_seq = 1""",
    )[0]
    trips = _rows(store, "SELECT count(*) FROM trip")[0][0]
    assert per_trip == (trips, trips, trips)
    assert _rows(store, "SELECT count(*) FROM notification")[0][0] == trips
    # Delivered exactly for the message arm; the control arm's would-have-sent rows kept.
    by_arm = _rows(
        store,
        """SELECT a.arm, n.arm, n.delivered, count(*) FROM notification n
           JOIN assignment a ON a.unit_id = n.consumer_id AND a.experiment_id = n.experiment_id
           GROUP BY ALL ORDER BY ALL""",
    )
    assert [row[:3] for row in by_arm] == [
        ("control", "control", False),
        ("message", "message", True),
    ]
    assert all(row[3] > 0.4 * trips for row in by_arm)
    # What the engine wrote: its offer, vendor, reason, price and the fill counts.
    assert _rows(
        store,
        """SELECT DISTINCT offer_id, vendor_id, zone_id, experiment_id, bid_cents, price_cents,
                  runner_up_bid_cents, eligible_offers, reason, content FROM notification""",
    ) == [
        (
            mall_engine.OFFER_ID,
            "mall",
            None,
            mall.EXPERIMENT_ID,
            1,
            0,
            None,
            1,
            "only eligible offer; second price, pays 0¢",
            mall.MESSAGE,
        )
    ]
    assert _rows(
        store, "SELECT offer_id, vendor_id, segments, experiment_id, max_bid_cents FROM offer"
    ) == [(mall_engine.OFFER_ID, "mall", ["first-purchase-of-trip"], mall.EXPERIMENT_ID, 1)]
    counts = dict(_rows(store, "SELECT outcome, sum(events) FROM decision_count GROUP BY 1"))
    delivered = _rows(store, "SELECT count(*) FROM notification WHERE delivered")[0][0]
    assert counts == {"delivered": delivered, "held_out": trips - delivered}


def test_every_purchase_is_an_event() -> None:
    store = _stored()
    purchases = _rows(
        store,
        """SELECT purchase_id, 'purchase', consumer_id, 'mall', amount_cents,
                  epoch_us(event_time), epoch_us(ingest_time) FROM purchase ORDER BY 1""",
    )
    events = _rows(
        store,
        """SELECT event_id, kind, consumer_id, vendor_id, amount_cents,
                  epoch_us(event_time), epoch_us(ingest_time) FROM event ORDER BY 1""",
    )
    assert events == purchases and len(events) > 1500
    # A notification is stamped with its trigger's event and ingest time.
    assert (
        _rows(
            store,
            """SELECT count(*) FROM notification n JOIN event e USING (event_id)
               WHERE n.event_time <> e.event_time OR n.ingest_time <> e.ingest_time""",
        )[0][0]
        == 0
    )


def test_stored_triggers_decide_as_the_simulation_did() -> None:
    """The engine never reads a purchase's id or amount, which are drawn after the
    responses: deciding the stored trigger events again gives the same decisions."""
    week = mall.simulate_week(1500, 8, mall.MallModel())
    first = np.flatnonzero(week.purchase["store_seq"] == 1)[week.decided.order]
    p = week.purchase
    triggers = mall_engine.purchase_events(
        p["purchase_id"][first],
        p["consumer_id"][first],
        p["event_time"][first].astype(np.int64),
        p["amount_cents"][first],
    )
    again = Engine(Plan(mall_engine.mall_config(8))).decide_batch(triggers)
    before = week.decided.decisions
    assert set(np.unique(again.outcome).tolist()) == {DELIVERED, HELD_OUT}
    for name in ("outcome", "position", "offer", "price_cents", "arm", "delivered"):
        assert np.array_equal(getattr(again, name), getattr(before, name)), name


def test_same_seed_same_notifications_and_events() -> None:
    a, b, c = _stored(seed=6), _stored(seed=6), _stored(seed=7)
    events = (
        "SELECT event_id, kind, consumer_id, vendor_id, amount_cents, epoch_us(event_time),"
        " epoch_us(ingest_time) FROM event ORDER BY event_id"
    )
    assert _rows(a, NOTES) == _rows(b, NOTES)
    assert _rows(a, events) == _rows(b, events)
    assert _rows(a, NOTES) != _rows(c, NOTES)


def test_uplift_comes_only_from_delivered_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the offer switched off the engine delivers nothing, and the message arm buys
    exactly as it would with no effect at all (same draws: common random numbers)."""
    config = mall_engine.mall_config

    def switched_off(seed: int) -> EngineConfig:
        c = config(seed)
        return c.model_copy(update={"offers": [c.offers[0].model_copy(update={"enabled": False})]})

    baseline = mall.simulate_week(3000, 2, mall.MallModel(effect=mall.parse_effect("0")))
    treated = mall.simulate_week(3000, 2, mall.MallModel(effect=mall.parse_effect("0.3")))
    monkeypatch.setattr(mall_engine, "mall_config", switched_off)
    unsent = mall.simulate_week(3000, 2, mall.MallModel(effect=mall.parse_effect("0.3")))
    assert len(unsent.decided.decisions.position) == 0
    for column in baseline.purchase:
        assert np.array_equal(unsent.purchase[column], baseline.purchase[column]), column
    assert len(treated.purchase["purchase_id"]) > len(baseline.purchase["purchase_id"])


def test_replace_swaps_the_mall_rows_and_keeps_the_city() -> None:
    store = _stored(n=800)
    city = CITY_ID_BASE + 1
    store.con.execute(
        "INSERT INTO event VALUES (?, 'purchase', ?, NULL, NULL, 'v0001', 500, NULL,"
        " '2026-03-02 10:00:00+00', '2026-03-02 10:00:01+00')",
        [CITY_ID_BASE * 10_000 + 1, city],
    )
    model = mall.MallModel()
    with pytest.raises(FileExistsError, match="--replace"):
        mall.write_week(store, mall.simulate_week(600, 3, model), model, replace=False)
    mall.write_week(store, mall.simulate_week(600, 3, model), model, replace=True)
    # The new week's rows only (600 consumers, not 800), and the city's event untouched.
    trips = _rows(store, "SELECT count(*) FROM trip")[0][0]
    assert _rows(
        store,
        f"""SELECT count(*), count(p.purchase_id), max(e.consumer_id) FROM event e
            LEFT JOIN purchase p ON p.purchase_id = e.event_id WHERE e.consumer_id < {city}""",
    ) == [(_rows(store, "SELECT count(*) FROM purchase")[0][0],) * 2 + (600,)]
    assert _rows(store, f"SELECT count(*) FROM event WHERE consumer_id = {city}") == [(1,)]
    assert _rows(store, "SELECT count(*), max(consumer_id) FROM notification") == [(trips, 600)]
    assert _rows(store, "SELECT sum(events) FROM decision_count") == [(trips,)]
    assert _rows(store, "SELECT count(*) FROM offer") == [(1,)]


def test_write_is_all_or_nothing() -> None:
    """A clash while writing the engine's rows undoes the whole week (one transaction)."""
    store = Store.open(":memory:")
    store.con.execute(
        "INSERT INTO event VALUES (5, 'location', ?, 40.4, -3.7, NULL, NULL, NULL,"
        " '2026-03-02 10:00:00+00', '2026-03-02 10:00:01+00')",
        [CITY_ID_BASE + 1],
    )
    model = mall.MallModel()
    with pytest.raises(duckdb.ConstraintException, match="Duplicate key"):
        mall.write_week(store, mall.simulate_week(300, 1, model), model, replace=False)
    for table in ("consumer", "mall_consumer", "trip", "purchase", "notification", "offer",
                  "experiment"):
        assert _rows(store, f"SELECT count(*) FROM {table}")[0][0] == 0, table
    assert _rows(store, "SELECT count(*) FROM event")[0][0] == 1


def test_export_paths_are_literal(tmp_path: Path) -> None:
    """A folder with a quote (and glob characters) in its name is written, not SQL."""
    store = _stored(n=50)
    folder = tmp_path / "it's [here]*"
    consumer, purchase = mall.export_tables(store, str(folder))
    assert consumer == str(folder / "consumer.csv") and purchase == str(folder / "purchase.csv")
    assert (folder / "consumer.csv").read_text().count("\n") == 51
    assert (folder / "purchase.csv").read_text().startswith(
        "consumer_id,from_second_store_sales,realtime_message\n"
    )
