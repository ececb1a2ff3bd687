"""What the design could detect: minimum detectable effects for the arm sizes at hand."""

from __future__ import annotations

import math

import scipy.stats as sps

from pushlift.analysis.results import DesignPower
from pushlift.analysis.spec import ExperimentSpec
from pushlift.analysis.stats import (
    Statistic,
    frequentist_variance,
    is_finite,
    minimum_detectable_effect,
)

TARGET_POWER = 0.8
Key = tuple[str, str, str]  # (arm, segment, level), as in moments.segment_statistics


def design_power(
    spec: ExperimentSpec,
    stats: dict[Key, dict[str, Statistic]],
    alpha: float,
    target_power: float = TARGET_POWER,
    one_sided: bool = False,
) -> list[DesignPower]:
    """MDE at ``target_power`` for each outcome and arm, from the control arm's variance;
    for a one-sided test (`one_sided`) all of ``alpha`` is on one side.

    The absolute and the relative MDE both use the real sizes of the two arms (the
    relative one solves the delta-method equation, in which the treatment mean appears).
    The units per arm for a 10% lift assume an even split. An outcome whose control arm
    gives no variance to plan with is reported with the reason, not left out.
    """
    out = []
    # The formulas are two-sided: a one-sided test at alpha is a two-sided one at 2 alpha.
    level = 2 * alpha if one_sided else alpha
    z = float(sps.norm.ppf(1 - level / 2) + sps.norm.ppf(target_power))
    for o in spec.outcomes:
        control = stats[(spec.control, "all", "all")][o.name]
        var = control.variance if control.n > 1 and is_finite(control) else math.nan
        usable = math.isfinite(var) and var > 0
        for arm in spec.treatments:
            treated = stats[(arm, "all", "all")][o.name]
            if not usable:
                why = (
                    "the control arm has fewer than 2 units"
                    if control.n < 2
                    else "the control arm's variance is zero or not finite, so there is "
                    "nothing to plan with"
                )
                nan = math.nan
                out.append(
                    DesignPower(
                        o.name, arm, control.n, treated.n, alpha, target_power, nan, nan, None, why
                    )
                )
                continue
            mean = control.mean
            sizes = (float(control.n), float(max(treated.n, 1)))
            absolute, rel = (
                minimum_detectable_effect(
                    target_power, mean, var, sum(sizes), relative=r, alpha=level, arm_sizes=sizes
                )
                for r in (False, True)
            )
            n_needed = None
            if mean != 0:
                # Units per arm so that a 10% relative lift has the target power (even split).
                per_unit = frequentist_variance(var, mean, 1, var, 1.1 * mean, 1, True)
                n_needed = math.ceil(per_unit * (z / 0.1) ** 2)
            out.append(
                DesignPower(
                    o.name,
                    arm,
                    control.n,
                    treated.n,
                    alpha,
                    target_power,
                    absolute.mde if absolute.mde is not None else math.nan,
                    rel.mde if rel.mde is not None else math.nan,
                    n_needed,
                    rel.error,
                )
            )
    return out
