"""Effects within segments, and whether they differ (a Wald test of equal effects)."""

from __future__ import annotations

import math

import numpy as np
import scipy.stats as sps

from pushlift.analysis.results import HeterogeneityTest, SubgroupEffect
from pushlift.analysis.stats import EffectEstimate, benjamini_hochberg, holm


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


def with_adjusted_p(items: list, field: str = "p_value") -> list:
    """Return copies of results with Holm and BH p-values computed across the whole list."""
    from dataclasses import replace

    if not items:
        return []
    raw = [
        (i.effect.p_value if isinstance(i, SubgroupEffect) else getattr(i, field)) for i in items
    ]
    ok = [i for i, p in enumerate(raw) if p is not None and math.isfinite(p)]
    h = holm([raw[i] for i in ok])
    b = benjamini_hochberg([raw[i] for i in ok])
    adj_h = [math.nan] * len(items)
    adj_b = [math.nan] * len(items)
    for j, i in enumerate(ok):
        adj_h[i], adj_b[i] = h[j], b[j]
    return [replace(it, p_holm=adj_h[i], p_bh=adj_b[i]) for i, it in enumerate(items)]
