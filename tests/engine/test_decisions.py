"""The engine against a brute-force referee, and its per-event and micro-batch paths against
each other, on random scenarios where caps, budgets, segments and ties all bind."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pushlift.engine.engine import DELIVERED, HELD_OUT, OUTCOMES, Engine
from pushlift.engine.plan import Plan

from .oracle import decide_all
from .scenarios import random_config, random_stream, random_traits

SLOW_OK = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def run_single(config, stream, traits):
    engine = Engine(Plan(config))
    engine.state.set_traits(traits)
    return engine, [engine.decide(e) for e in stream.events()]


def run_batches(config, stream, traits, cuts):
    engine = Engine(Plan(config))
    engine.state.set_traits(traits)
    decisions = []
    bounds = [0, *sorted(set(cuts)), len(stream)]
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        if hi > lo:
            part = engine.decide_batch(stream.take(slice(lo, hi)))
            decisions += [part.decision(j) for j in range(hi - lo)]
    return engine, decisions


@SLOW_OK
@given(seed=st.integers(0, 2**32 - 1), second_price=st.booleans(), data=st.data())
def test_both_paths_match_the_referee(seed, second_price, data):
    rng = np.random.default_rng(seed)
    config = random_config(rng, second_price=second_price)
    stream = random_stream(rng, 400, 25)
    traits = random_traits(rng, 25)
    cuts = data.draw(st.lists(st.integers(1, len(stream) - 1), max_size=8))

    want_outcomes, want_notes = decide_all(config, stream.events(), traits)
    engine, single = run_single(config, stream, traits)
    _, batched = run_batches(config, stream, traits, cuts)

    assert single == batched
    assert [OUTCOMES[d.outcome] for d in single] == want_outcomes
    plan = engine.plan
    got = [
        (i, plan.offer_ids[d.offer], d.price_cents, d.outcome == DELIVERED)
        for i, d in enumerate(single)
        if d.notified
    ]
    assert got == [(n.position, n.offer_id, n.price_cents, n.delivered) for n in want_notes]


def test_scenarios_exercise_every_outcome():
    """The random scenarios are only a test if every rule actually decides something."""
    seen: set[str] = set()
    for seed in range(12):
        rng = np.random.default_rng(seed)
        config = random_config(rng, second_price=bool(seed % 2))
        stream = random_stream(rng, 1500, 40)
        _, decisions = run_single(config, stream, random_traits(rng, 40))
        seen |= {OUTCOMES[d.outcome] for d in decisions}
    assert seen == set(OUTCOMES) - {"late"}  # late is the runner's, not the engine's


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), second_price=st.booleans())
def test_invariants_on_larger_streams(seed, second_price):
    """Caps, budgets, holdouts and the auction rule, checked on the engine's own output."""
    rng = np.random.default_rng(seed)
    config = random_config(rng, second_price=second_price)
    stream = random_stream(rng, 4000, 80)
    engine, decisions = run_batches(config, stream, random_traits(rng, 80), [1000, 2500])
    plan = engine.plan
    notified = [(i, d) for i, d in enumerate(decisions) if d.notified]
    spend = np.zeros(len(plan.offer_ids), dtype=np.int64)
    per_sub_offer: dict[tuple[int, int], int] = {}
    for i, d in notified:
        offer = plan.offers[d.offer]
        sub = int(stream.subscriber_id[i])
        # The winner outbids every other eligible offer (or ties and has the smaller id).
        assert d.runner_up_bid_cents <= offer.max_bid_cents
        if second_price:
            assert d.price_cents == max(plan.reserve, d.runner_up_bid_cents)
            assert d.price_cents <= offer.max_bid_cents
        else:
            assert d.price_cents == offer.max_bid_cents
        exp = plan.offer_experiment[d.offer]
        holdout = exp >= 0 and plan.arm_holdout[exp][d.arm]
        assert (d.outcome == HELD_OUT) == holdout  # holdout never delivered
        if d.outcome == DELIVERED:
            spend[d.offer] += d.price_cents
        per_sub_offer[(d.offer, sub)] = per_sub_offer.get((d.offer, sub), 0) + 1
        if offer.cap_per_subscriber:
            assert per_sub_offer[(d.offer, sub)] <= offer.cap_per_subscriber
    assert (spend <= plan.budget).all()
    assert (spend == engine.state.spend.total).all()
    # Global frequency cap: never more than `max` notifications within any `per` window.
    per, most = plan.frequency_per_us, plan.frequency_max
    for sub in np.unique(stream.subscriber_id):
        times = np.sort([stream.time_us[i] for i, _ in notified if stream.subscriber_id[i] == sub])
        if len(times) > most:
            assert (times[most:] - times[:-most] >= per).all()
