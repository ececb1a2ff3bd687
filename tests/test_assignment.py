"""Hash assignment: deterministic, order-free, and balanced to the weights."""

from __future__ import annotations

import numpy as np
import scipy.stats as sps

from pushlift.assignment import assign_arms


def test_deterministic_and_independent_of_order() -> None:
    ids = np.arange(1, 10_001)
    arms = assign_arms("exp", ids, ("a", "b"), (0.5, 0.5), seed=3)
    shuffled = np.random.default_rng(0).permutation(ids)
    again = assign_arms("exp", shuffled, ("a", "b"), (0.5, 0.5), seed=3)
    assert dict(zip(shuffled, again, strict=True)) == dict(zip(ids, arms, strict=True))
    other = assign_arms("other-exp", ids, ("a", "b"), (0.5, 0.5), seed=3)
    assert (other != arms).mean() > 0.4  # a different experiment re-randomizes


def test_shares_follow_weights() -> None:
    ids = np.arange(1, 200_001)
    arms = assign_arms("exp", ids, ("c", "t1", "t2"), (0.5, 0.3, 0.2))
    counts = [int((arms == a).sum()) for a in ("c", "t1", "t2")]
    # A chi-square test at the 0.1% level: a failure would mean a biased hash.
    assert sps.chisquare(counts, np.array([0.5, 0.3, 0.2]) * ids.size).pvalue > 0.001
