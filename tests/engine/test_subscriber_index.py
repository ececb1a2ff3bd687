"""The engine's subscriber index (dense numbers by id) agrees with a plain dict, however
ids arrive: dense or sparse, rising or falling, switching between the two, in batches of
any size."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pushlift.engine.config import parse_config
from pushlift.engine.plan import Plan
from pushlift.engine.state import EngineState

CONFIG = {
    "vendors": [{"id": "cafe", "name": "Cafe", "category": "coffee"}],
    "zones": [{"id": "plaza", "circle": {"lat": 40.0, "lon": -3.7, "radius_m": 300}}],
    "offers": [{"id": "coffee", "vendor": "cafe", "content": "2x1", "zone": "plaza",
                "max_bid_cents": 40}],
}  # fmt: skip

ids = st.one_of(
    st.integers(0, 3_000),  # dense
    st.integers(0, 2**63 - 1),  # sparse: hashed ids
    st.integers(10**6, 10**6 + 500),  # a dense block far from the first
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(ids, min_size=1, max_size=40), min_size=1, max_size=25))
def test_dense_numbers_match_a_dict(batches: list[list[int]]) -> None:
    state = EngineState(Plan(parse_config(CONFIG, "test")))
    expected: dict[int, int] = {}
    for batch in batches:
        for i in batch:
            expected.setdefault(i, len(expected))  # numbered in order of first appearance
        got = state.subscribers(np.array(batch, dtype=np.int64))
        assert got.tolist() == [expected[i] for i in batch]
    # Every id seen so far is found again, in any order, without registering anything.
    known = np.array(list(expected), dtype=np.int64)
    np.random.default_rng(0).shuffle(known)
    assert state.subscribers(known).tolist() == [expected[i] for i in known.tolist()]
    assert len(state.ids) == len(expected)
