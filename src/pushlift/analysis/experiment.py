"""The whole experiment analysis: one call from a spec to an ExperimentResult.

SQL computes sufficient statistics (a few scans, however many rows); everything else is
computed from those small tables in Python.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import duckdb

from pushlift.analysis import describe
from pushlift.analysis.clusters import segment_customers
from pushlift.analysis.effects import adjusted_fits, arm_outcome, compare, omnibus
from pushlift.analysis.heterogeneity import subgroup_effects
from pushlift.analysis.moments import segment_statistics
from pushlift.analysis.multiplicity import with_adjusted_p
from pushlift.analysis.power import design_power
from pushlift.analysis.results import (
    AlwaysValid,
    Comparison,
    ExperimentResult,
    OutcomeResult,
    SubgroupEffect,
)
from pushlift.analysis.spec import FAMILIES, ExperimentSpec
from pushlift.analysis.sql import ident
from pushlift.analysis.stats import (
    Alternative,
    GaussianPrior,
    Statistic,
    bayesian_test,
    sequential_test,
)
from pushlift.analysis.winsorize import Cap
from pushlift.analysis.winsorize import winsorize as capped
from pushlift.errors import PushliftError

Progress = Callable[[str], None]


def analyze_experiment(
    con: duckdb.DuckDBPyConnection,
    spec: ExperimentSpec,
    *,
    alpha: float = 0.05,
    seed: int = 0,
    bayesian: GaussianPrior | None = None,
    alternative: Alternative = "two-sided",
    sequential: int | None = None,
    winsorize: float | None = None,
    progress: Progress | None = None,
) -> ExperimentResult:
    """Analyse one randomized experiment described by `spec`; returns every result.
    `bayesian` (a prior on the relative lift; `GaussianPrior()` is flat) adds, per
    comparison, the lift's posterior: chance to beat control, expected loss each way,
    credible interval at 1 - `alpha`.
    `alternative` ("greater", "less") makes the comparisons and the power one-sided;
    subgroup effects and their tests stay two-sided (they look for differences either way).
    `sequential` (a tuning size: total units at which the interval is tightest) adds, per
    comparison, the always-valid test (`AlwaysValid`).
    `winsorize` (a percentile, e.g. 99) caps mean outcomes and ratio numerators at their
    pooled percentile first (`winsorize.winsorize`); the caps are in the result.
    """
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

    caps: tuple[Cap, ...] = ()
    if winsorize is not None:
        step(f"capping outcomes at their pooled {winsorize:g}th percentile")
        spec, caps = capped(con, spec, winsorize)
    step("describing the sample and checking balance")
    desc = describe.descriptives(con, spec)
    balance = describe.covariate_balance(con, spec)
    srm = describe.sample_ratio(spec, counts)

    step("aggregating sufficient statistics")
    stats = segment_statistics(con, spec, {s: ident(s) for s in spec.segments})

    step("estimating effects")
    fits = {}
    for arm in spec.treatments:  # every outcome's adjustment in two scans per arm
        step(f"regression adjustment: {arm}")
        fits[arm] = adjusted_fits(con, spec, arm, list(spec.outcomes))
    outcomes = []
    comparisons: list[Comparison] = []
    for o in spec.outcomes:
        per_arm = {a: stats[(a, "all", "all")][o.name] for a in spec.arms}
        comps = []
        for arm in spec.treatments:
            c = compare(
                con, spec, o, arm, per_arm[spec.control], per_arm[arm], alpha, alternative,
                fit=fits[arm].get(o.name),
            )  # fmt: skip
            if bayesian is not None:
                posterior = bayesian_test(
                    per_arm[spec.control], per_arm[arm], prior=bayesian, alpha=alpha
                )
                c = replace(c, bayesian=posterior, bayesian_prior=bayesian)
            if sequential is not None:
                c = replace(c, sequential=always_valid(
                    per_arm[spec.control], per_arm[arm], sequential, alpha, alternative
                ))  # fmt: skip
            comps.append(c)
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
                o.family,
            )
        )
    # The multiple-testing correction: within each declared family (primary, secondary,
    # guardrail), across its outcomes and arms.
    family_of = {o.name: o.family for o in spec.outcomes}
    adjusted: dict[int, Comparison] = {}
    for family in FAMILIES:
        members = [i for i, c in enumerate(comparisons) if family_of[c.outcome] == family]
        chosen = [comparisons[i] for i in members]
        for i, c in zip(members, with_adjusted_p(chosen, [c.absolute.p_value for c in chosen]),
                        strict=True):  # fmt: skip
            adjusted[i] = c
    comparisons = [adjusted[i] for i in range(len(comparisons))]
    outcomes = [
        replace(r, comparisons=tuple(c for c in comparisons if c.outcome == r.outcome))
        for r in outcomes
    ]

    step("heterogeneous effects")
    subgroups, tests = subgroup_effects(spec, stats, list(spec.segments), alpha)

    step("power and minimum detectable effect")
    power = design_power(spec, stats, alpha, one_sided=alternative != "two-sided")

    step("customer segments")
    segmentation = None
    segment_effects: list[SubgroupEffect] = []
    fitted = segment_customers(con, spec, seed=seed)
    if fitted is not None:
        segmentation, labelled = fitted
        cluster_stats = segment_statistics(
            con, replace(spec, relation=labelled), {"cluster": "_cluster"}
        )
        segment_effects, _ = subgroup_effects(spec, cluster_stats, ["cluster"], alpha)

    return ExperimentResult(
        title=spec.title,
        source=spec.source,
        arm_column=spec.arm,
        control=spec.control,
        arms=spec.arms,
        alpha=alpha,
        alternative=alternative,
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
        data_notes=(*spec.data_notes, *(cap_note(c, spec) for c in caps)),
        winsorized=caps,
    )


def always_valid(
    control: Statistic, arm: Statistic, tuning: int, alpha: float, alternative: Alternative
) -> AlwaysValid:
    """The always-valid test of `arm` against `control` (absolute and relative)."""
    absolute, relative = (
        sequential_test(control, arm, n_star=tuning, relative=r, alpha=alpha,
                        alternative=alternative, allow_constant_arm=True)
        for r in (False, True)
    )  # fmt: skip
    return AlwaysValid(tuning, absolute, relative)


def cap_note(cap: Cap, spec: ExperimentSpec) -> str:
    """The capping said in words, first among the data notes."""
    title = next((o.title for o in spec.outcomes if o.name == cap.outcome), cap.outcome)
    named = title if title == cap.column else f"{title} ({cap.column})"
    return (
        f"Winsorized: {named} capped at {cap.cap:,.4g}, the pooled "
        f"{cap.percentile:g}th percentile of both arms ({cap.capped:,} of {cap.units:,} units "
        "were above it); its effects are on the capped values, a little bias for less variance."
    )
