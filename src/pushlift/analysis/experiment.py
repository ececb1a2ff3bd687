"""The whole experiment analysis: one call from a spec to an ExperimentResult.

SQL computes sufficient statistics (a few scans, however many rows); everything else is
computed from those small tables in Python.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

import duckdb
import scipy.stats as sps

from pushlift.analysis import describe
from pushlift.analysis.clusters import segment_customers
from pushlift.analysis.effects import adjusted_effect, arm_outcome, omnibus
from pushlift.analysis.heterogeneity import equal_effects_test
from pushlift.analysis.moments import segment_statistics
from pushlift.analysis.multiplicity import with_adjusted_p
from pushlift.analysis.results import (
    Comparison,
    DesignPower,
    ExperimentResult,
    OutcomeResult,
    SubgroupEffect,
)
from pushlift.analysis.spec import ExperimentSpec
from pushlift.analysis.sql import ident
from pushlift.analysis.stats import (
    Statistic,
    frequentist_variance,
    minimum_detectable_effect,
    welch_test,
)
from pushlift.errors import PushliftError

Progress = Callable[[str], None]
TARGET_POWER = 0.8


def analyze_experiment(
    con: duckdb.DuckDBPyConnection,
    spec: ExperimentSpec,
    *,
    alpha: float = 0.05,
    seed: int = 0,
    progress: Progress | None = None,
) -> ExperimentResult:
    """Analyse one randomized experiment described by `spec`; returns every result."""
    step = progress or (lambda _msg: None)
    step("counting units per arm")
    counts = describe.arm_counts(con, spec)
    if spec.control not in counts:
        raise PushliftError(
            f"control arm {spec.control!r} not found in column {spec.arm!r}; arms present: "
            + ", ".join(sorted(counts))
        )
    # The spec's arm order is kept: planned weights are given in that order.
    unexpected = sorted(set(counts) - set(spec.arms))
    empty = [a for a in spec.arms if a not in counts]
    if unexpected or empty:
        raise PushliftError(
            f"column {spec.arm!r} does not hold the planned arms {', '.join(spec.arms)}: "
            + (f"unexpected {', '.join(unexpected)}" if unexpected else "")
            + ("; " if unexpected and empty else "")
            + (f"no units in {', '.join(empty)}" if empty else "")
        )
    if len(spec.arms) < 2:
        raise PushliftError(f"column {spec.arm!r} has only one arm ({spec.control!r})")

    step("describing the sample and checking balance")
    desc = describe.descriptives(con, spec)
    balance = describe.covariate_balance(con, spec)
    srm = describe.sample_ratio(spec, counts)

    step("aggregating sufficient statistics")
    stats = segment_statistics(con, spec, {s: ident(s) for s in spec.segments})

    step("estimating effects")
    outcomes = []
    comparisons: list[Comparison] = []
    for o in spec.outcomes:
        per_arm = {a: stats[(a, "all", "all")][o.name] for a in spec.arms}
        comps = []
        for arm in spec.treatments:
            absolute = welch_test(per_arm[spec.control], per_arm[arm], relative=False, alpha=alpha)
            relative = welch_test(per_arm[spec.control], per_arm[arm], relative=True, alpha=alpha)
            step(f"regression adjustment: {o.name}, {arm}")
            adjusted = adjusted_effect(con, spec, o, arm, absolute, alpha)
            comps.append(
                Comparison(
                    o.name,
                    arm,
                    spec.control,
                    absolute,
                    relative,
                    adjusted,
                    math.nan,
                    math.nan,
                    spec.truth.get((o.name, "all", "all")),
                )
            )
        comparisons += comps
        outcomes.append(
            OutcomeResult(
                o.name,
                o.title,
                o.kind,
                o.note,
                tuple(arm_outcome(a, per_arm[a]) for a in spec.arms),
                (),
                omnibus(o, list(per_arm.values())),
            )
        )
    # One family across all outcomes and arms: the multiple-testing correction.
    comparisons = with_adjusted_p(comparisons, [c.absolute.p_value for c in comparisons])
    outcomes = [
        replace(r, comparisons=tuple(c for c in comparisons if c.outcome == r.outcome))
        for r in outcomes
    ]

    step("heterogeneous effects")
    subgroups, tests = _subgroups(spec, stats, list(spec.segments), alpha)

    step("power and minimum detectable effect")
    power = _design_power(spec, stats, alpha)

    step("customer segments")
    segmentation = None
    segment_effects: list[SubgroupEffect] = []
    fitted = segment_customers(con, spec, seed=seed)
    if fitted is not None:
        segmentation, labelled = fitted
        cluster_stats = segment_statistics(
            con, replace(spec, relation=labelled), {"cluster": "_cluster"}
        )
        segment_effects, _ = _subgroups(spec, cluster_stats, ["cluster"], alpha)

    return ExperimentResult(
        title=spec.title,
        source=spec.source,
        arm_column=spec.arm,
        control=spec.control,
        arms=spec.arms,
        alpha=alpha,
        descriptives=desc,
        balance=tuple(balance),
        sample_ratio=srm,
        outcomes=tuple(outcomes),
        subgroups=tuple(subgroups),
        heterogeneity=tuple(tests),
        power=tuple(power),
        segmentation=segmentation,
        segment_effects=tuple(segment_effects),
        notes=tuple(o.note for o in spec.outcomes if o.note),
    )


def _subgroups(
    spec: ExperimentSpec,
    stats: dict[tuple[str, str, str], dict[str, Statistic]],
    segments: list[str],
    alpha: float,
) -> tuple[list[SubgroupEffect], list]:
    """Effects per segment level; Holm/BH within each (outcome, arm) family."""
    all_effects: list[SubgroupEffect] = []
    all_tests = []
    for o in spec.outcomes:
        for arm in spec.treatments:
            family: list[SubgroupEffect] = []
            tests = []
            for seg in segments:
                levels = sorted({k[2] for k in stats if k[1] == seg})
                effects = []
                for level in levels:
                    a = stats.get((spec.control, seg, level), {}).get(o.name)
                    b = stats.get((arm, seg, level), {}).get(o.name)
                    if a is None or b is None:
                        continue
                    est = welch_test(a, b, relative=False, alpha=alpha)
                    effects.append(est)
                    family.append(
                        SubgroupEffect(
                            o.name,
                            arm,
                            seg,
                            level,
                            a.n,
                            b.n,
                            a.mean if a.n else math.nan,
                            b.mean if b.n else math.nan,
                            est,
                            math.nan,
                            math.nan,
                            spec.truth.get((o.name, seg, level)),
                        )
                    )
                test = equal_effects_test(o.name, arm, seg, effects)
                if test is not None:
                    tests.append(test)
            all_effects += with_adjusted_p(family, [s.effect.p_value for s in family])
            all_tests += with_adjusted_p(tests, [t.p_value for t in tests])
    return all_effects, all_tests


def _design_power(
    spec: ExperimentSpec, stats: dict[tuple[str, str, str], dict[str, Statistic]], alpha: float
) -> list[DesignPower]:
    """MDE at 80% power for the sample sizes at hand, using the control arm's variance."""
    out = []
    z = float(sps.norm.ppf(1 - alpha / 2) + sps.norm.ppf(TARGET_POWER))
    for o in spec.outcomes:
        control = stats[(spec.control, "all", "all")][o.name]
        if control.n < 2 or control.variance <= 0:
            continue
        for arm in spec.treatments:
            treated = stats[(arm, "all", "all")][o.name]
            var, mean = control.variance, control.mean
            mde_abs = z * math.sqrt(var / control.n + var / max(treated.n, 1))
            rel = minimum_detectable_effect(
                TARGET_POWER, mean, var, control.n + treated.n, 2, relative=True, alpha=alpha
            )
            n_needed = None
            if mean != 0:
                # Units per arm so that a 10% relative lift has 80% power (delta method).
                per_unit = frequentist_variance(var, mean, 1, var, 1.1 * mean, 1, True)
                n_needed = math.ceil(per_unit * (z / 0.1) ** 2)
            out.append(
                DesignPower(
                    o.name,
                    arm,
                    control.n,
                    treated.n,
                    alpha,
                    TARGET_POWER,
                    mde_abs,
                    rel.mde if rel.mde is not None else math.nan,
                    n_needed,
                )
            )
    return out
