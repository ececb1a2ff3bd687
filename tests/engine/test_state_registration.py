"""Registering subscribers: their trait segments and experiment arms, however and whenever
they arrive (before or after traits are given, one at a time or in batches), equal a plain
per-subscriber computation."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pushlift.assignment import assign_arms
from pushlift.engine.plan import Plan
from pushlift.engine.state import EngineState, Traits

from .scenarios import random_config

BANDS = ((29, "18-29"), (39, "30-39"), (49, "40-49"), (59, "50-59"), (200, "60+"))


def expected_traits(segment, traits: tuple[int, str, int] | None) -> bool:
    if traits is None:
        return False
    age, gender, loyalty = traits
    band = next(label for hi, label in BANDS if age <= hi)
    return (
        (segment.age_bands is None or band in segment.age_bands)
        and (segment.gender is None or gender == segment.gender)
        and (segment.loyalty is None or loyalty == (2 if segment.loyalty == "high" else 1))
    )


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    before=st.lists(st.lists(st.integers(0, 60), min_size=1, max_size=40), max_size=4),
    after=st.lists(st.lists(st.integers(0, 60), min_size=1, max_size=40), max_size=4),
    given_traits=st.lists(
        st.tuples(st.integers(0, 60), st.integers(18, 90), st.sampled_from("FM"),
                  st.integers(1, 2)),
        max_size=50,
    ),
)  # fmt: skip
def test_traits_and_arms_match_a_plain_computation(seed, before, after, given_traits):
    plan = Plan(random_config(np.random.default_rng(seed)))
    state = EngineState(plan)
    for batch in before:  # seen before the traits are known
        state.subscribers(np.array(batch, dtype=np.int64))
    ids, ages, genders, loyalties = ([row[k] for row in given_traits] for k in range(4))
    state.set_traits(
        Traits(np.array(ids, dtype=np.int64), np.array(ages, dtype=np.int64),
               np.array(genders, dtype=object), np.array(loyalties, dtype=np.int64))
    )  # fmt: skip
    for batch in after:
        state.subscribers(np.array(batch, dtype=np.int64))

    known = {sid: (age, g, loy) for sid, age, g, loy in given_traits}  # the last one counts
    registered = np.array(state.ids, dtype=np.int64)
    for t, segment in enumerate(plan.trait_segments):
        want = [expected_traits(segment, known.get(sid)) for sid in state.ids]
        assert state.traits[t, : len(registered)].tolist() == want, segment.id
    for e, exp in enumerate(plan.experiments):
        names = [a.name for a in exp.arms]
        arms = assign_arms(exp.id, registered, names, [a.weight for a in exp.arms], exp.seed)
        got = state.arm[e, : len(registered)].tolist()
        assert [names[i] for i in got] == arms.tolist(), exp.id
