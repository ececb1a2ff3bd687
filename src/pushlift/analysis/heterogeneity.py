"""Effects within segment levels, and whether they differ (a Wald test of equal effects).

Every level of a segment is reported: a level without units in an arm, or whose Welch
test has no estimate, is a row with its reason, and the test of equal effects lists it
as not estimable and uses the others.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import scipy.stats as sps

from pushlift.analysis.effects import sample_size_warnings
from pushlift.analysis.multiplicity import with_adjusted_p
from pushlift.analysis.results import HeterogeneityTest, SubgroupEffect
from pushlift.analysis.spec import ExperimentSpec
from pushlift.analysis.stats import (
    EffectEstimate,
    RatioStatistic,
    Statistic,
    is_finite,
    welch_test,
)

Key = tuple[str, str, str]  # (arm, segment, level), as in moments.segment_statistics
TOO_FEW_LEVELS = "fewer than two levels have an estimate, so there is nothing to compare"


def equal_effects_test(
    outcome: str,
    arm: str,
    segment: str,
    effects: list[EffectEstimate],
    levels: Sequence[str] = (),
) -> HeterogeneityTest | None:
    """Cochran's Q: sum w_i (d_i - d_bar)^2 with w_i = 1/se_i^2, chi-square on G-1 dof.

    Levels of one segment variable are disjoint sets of units, so their estimates are
    independent and Q is the Wald statistic for 'the effect is the same in every level'.
    ``levels`` names the effects (default "1", "2", ...). Levels without an estimate are
    listed in ``not_estimable``; the test uses the rest, and has no value (NaN, with the
    reason) when fewer than two remain. None when the segment has fewer than two levels.
    """
    if len(effects) < 2:
        return None
    names = list(levels) or [str(i + 1) for i in range(len(effects))]
    ok = [e.error is None and math.isfinite(e.se) and e.se > 0 for e in effects]
    used = tuple(n for n, good in zip(names, ok, strict=True) if good)
    missing = tuple(n for n, good in zip(names, ok, strict=True) if not good)
    usable = [e for e, good in zip(effects, ok, strict=True) if good]
    if len(usable) < 2:
        nan = math.nan
        return HeterogeneityTest(
            outcome, arm, segment, nan, 0, nan, nan, nan, used, missing, TOO_FEW_LEVELS
        )
    d = np.array([e.estimate for e in usable])
    w = 1 / np.array([e.se for e in usable]) ** 2
    d_bar = float((w * d).sum() / w.sum())
    q = float((w * (d - d_bar) ** 2).sum())
    dof = len(usable) - 1
    return HeterogeneityTest(
        outcome,
        arm,
        segment,
        q,
        dof,
        float(sps.chi2.sf(q, dof)),
        math.nan,
        math.nan,
        used,
        missing,
    )


def _mean(stat: Statistic | None) -> float:
    if stat is None or stat.n == 0 or not is_finite(stat):
        return math.nan
    if isinstance(stat, RatioStatistic) and stat.d_sum == 0:
        return math.nan
    return stat.mean


def _no_units(arms: list[str]) -> EffectEstimate:
    nan = math.nan
    which = " and ".join(f"'{a}'" for a in arms)
    error = f"NO_UNITS: no units in {which} at this level"
    return EffectEstimate(nan, nan, nan, nan, nan, None, False, "two-sided", error)


def subgroup_effects(
    spec: ExperimentSpec,
    stats: dict[Key, dict[str, Statistic]],
    segments: Sequence[str],
    alpha: float,
) -> tuple[list[SubgroupEffect], list[HeterogeneityTest]]:
    """Effects per segment level (every level, estimable or not) and the equal-effects
    tests; Holm/BH within each (outcome, arm) family, over the rows with an estimate."""
    all_effects: list[SubgroupEffect] = []
    all_tests: list[HeterogeneityTest] = []
    for o in spec.outcomes:
        for arm in spec.treatments:
            family: list[SubgroupEffect] = []
            tests: list[HeterogeneityTest] = []
            for seg in segments:
                levels = sorted({k[2] for k in stats if k[1] == seg})
                effects = []
                for level in levels:
                    a = stats.get((spec.control, seg, level), {}).get(o.name)
                    b = stats.get((arm, seg, level), {}).get(o.name)
                    empty = [name for name, s in ((spec.control, a), (arm, b)) if not s or not s.n]
                    warnings: tuple[str, ...] = ()
                    if empty or a is None or b is None:
                        est = _no_units(empty)
                    else:
                        est = welch_test(a, b, relative=False, alpha=alpha, allow_constant_arm=True)
                        warnings = sample_size_warnings(spec.control, arm, a, b, est)
                    effects.append(est)
                    family.append(
                        SubgroupEffect(
                            o.name,
                            arm,
                            seg,
                            level,
                            a.n if a else 0,
                            b.n if b else 0,
                            _mean(a),
                            _mean(b),
                            est,
                            math.nan,
                            math.nan,
                            spec.truth.get((o.name, seg, level)),
                            warnings,
                        )
                    )
                test = equal_effects_test(o.name, arm, seg, effects, levels)
                if test is not None:
                    tests.append(test)
            all_effects += with_adjusted_p(family, [s.effect.p_value for s in family])
            all_tests += with_adjusted_p(tests, [t.p_value for t in tests])
    return all_effects, all_tests
