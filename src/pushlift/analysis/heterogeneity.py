"""Whether effects differ between the levels of a segment (a Wald test of equal effects)."""

from __future__ import annotations

import math

import numpy as np
import scipy.stats as sps

from pushlift.analysis.results import HeterogeneityTest
from pushlift.analysis.stats import EffectEstimate


def equal_effects_test(
    outcome: str, arm: str, segment: str, effects: list[EffectEstimate]
) -> HeterogeneityTest | None:
    """Cochran's Q: sum w_i (d_i - d_bar)^2 with w_i = 1/se_i^2, chi-square on G-1 dof.

    Levels of one segment variable are disjoint sets of units, so their estimates are
    independent and Q is the Wald statistic for 'the effect is the same in every level'.
    """
    usable = [e for e in effects if e.error is None and e.se > 0]
    if len(usable) < 2:
        return None
    d = np.array([e.estimate for e in usable])
    w = 1 / np.array([e.se for e in usable]) ** 2
    d_bar = float((w * d).sum() / w.sum())
    q = float((w * (d - d_bar) ** 2).sum())
    dof = len(usable) - 1
    return HeterogeneityTest(
        outcome, arm, segment, q, dof, float(sps.chi2.sf(q, dof)), math.nan, math.nan
    )
