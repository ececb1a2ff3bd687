"""Plain-language conclusions that state uncertainty correctly, shared by every output."""

from __future__ import annotations

import math
from collections.abc import Callable

from pushlift.analysis.results import (
    AdjustedEffect,
    Comparison,
    ExperimentResult,
    OutcomeResult,
    SubgroupEffect,
)
from pushlift.analysis.stats import EffectEstimate, no_estimate_reason


def fmt_value(
    x: float | None, kind: str, *, signed: bool = False, difference: bool | None = None
) -> str:
    """A value of an outcome in its unit; differences of proportions in percentage points."""
    if x is None or not math.isfinite(x):
        return "n/a"
    sign = "+" if signed else ""
    if kind == "proportion":
        is_difference = signed if difference is None else difference
        return f"{x * 100:{sign}.1f} pp" if is_difference else f"{x * 100:.1f}%"
    return f"{x:{sign},.2f}"


def fmt_pct(x: float | None, *, signed: bool = True) -> str:
    if x is None or not math.isfinite(x):
        return "n/a"
    return f"{x * 100:{'+' if signed else ''}.1f}%"


def fmt_p(p: float | None) -> str:
    if p is None or not math.isfinite(p):
        return "n/a"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def p_is(p: float | None) -> str:
    """'p = 0.012' or 'p < 0.001'."""
    text = fmt_p(p)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def interval(e: EffectEstimate, kind: str) -> str:
    return bounds(e, lambda x: fmt_value(x, kind, signed=True))


def bounds(e: EffectEstimate, show: Callable[[float], str]) -> str:
    """An interval in words; a one-sided one has a single finite end."""
    if e.ci_high == math.inf:
        return f"{show(e.ci_low)} or more"
    if e.ci_low == -math.inf:
        return f"{show(e.ci_high)} or less"
    return f"{show(e.ci_low)} to {show(e.ci_high)}"


def no_estimate(e: EffectEstimate) -> str | None:
    """'no estimate: <why>' for a failed estimate; None when the estimate exists."""
    reason = no_estimate_reason(e.error)
    return None if reason is None else f"no estimate: {reason}"


def _adjusted_sentence(adj: AdjustedEffect, kind: str, level: str) -> str:
    notes = "".join(f" {n}" for n in adj.notes)
    if adj.no_estimate_reason is not None:
        return f" No regression-adjusted estimate: {adj.no_estimate_reason}.{notes}"
    return (
        f" Adjusting for {', '.join(adj.covariates)} gives "
        f"{fmt_value(adj.effect.estimate, kind, signed=True)} "
        f"({level} CI {interval(adj.effect, kind)}), an interval "
        f"{fmt_pct(abs(adj.ci_narrowing), signed=False)} "
        f"{'narrower' if adj.ci_narrowing >= 0 else 'wider'}.{notes}"
    )


def comparison_sentence(r: OutcomeResult, c: Comparison, alpha: float) -> str:
    a, rel = c.absolute, c.relative
    one_sided = a.alternative != "two-sided"
    level = f"{(1 - alpha) * 100:g}%" + (" one-sided" if one_sided else "")
    if c.no_estimate_reason is not None:
        return f"{r.title}, '{c.arm}' against '{c.control}': no estimate: {c.no_estimate_reason}."
    verb = "raised" if a.estimate > 0 else "lowered"
    relative = (
        f"a relative change of {fmt_pct(rel.estimate)} ({level} CI {bounds(rel, fmt_pct)})"
        if rel.error is None
        else f"and no relative change ({no_estimate_reason(rel.error)})"
    )
    direction = {"greater": "raises", "less": "lowers"}.get(a.alternative)
    test = f"one-sided test that it {direction} it, " if direction else ""
    within = "" if r.family == "primary" else f" within the {r.family} outcomes"
    head = (
        f"{'Guardrail ' if r.family == 'guardrail' else ''}{r.title}: '{c.arm}' {verb} it by "
        f"{fmt_value(abs(a.estimate), r.kind, difference=True)} against '{c.control}' "
        f"({level} CI {interval(a, r.kind)}; {test}{p_is(a.p_value)}, "
        f"Holm-adjusted{within} {fmt_p(c.p_holm)}), {relative}."
    )
    if a.ci_low > 0 or a.ci_high < 0:
        tail = (
            " The interval excludes zero: the data are hard to reconcile with no effect, "
            "but the size of the effect is only known to within the interval."
        )
    else:
        tail = (
            " The interval includes zero: these data cannot tell a real effect of this "
            "size from chance, which is not the same as showing there is no effect."
        )
    if c.adjusted is not None:
        tail += _adjusted_sentence(c.adjusted, r.kind, level)
    if c.true_effect is not None:
        covered = a.ci_low <= c.true_effect <= a.ci_high
        tail += (
            f" Simulation truth: {fmt_value(c.true_effect, r.kind, signed=True)}, "
            f"{'inside' if covered else 'outside'} the interval."
        )
    if c.bayesian is not None:
        tail += bayesian_sentence(c, level)
    if c.sequential is not None:
        tail += sequential_sentence(c, r.kind, level)
    tail += "".join(f" Caution: {w}" for w in c.warnings)
    return head + tail


def bayesian_sentence(c: Comparison, level: str) -> str:
    """The posterior of the relative lift, its prior named, or why there is none."""
    b, prior = c.bayesian, c.bayesian_prior
    assert b is not None
    named = (
        f"prior N({fmt_pct(prior.mean)}, sd {fmt_pct(math.sqrt(prior.variance), signed=False)})"
        if prior is not None and prior.proper
        else "flat prior"
    )
    if b.error is not None:
        return f" Bayesian ({named}): no estimate: {no_estimate_reason(b.error)}."
    choose, keep = fmt_pct(b.risk_treatment, signed=False), fmt_pct(b.risk_control, signed=False)
    return (
        f" Bayesian ({named}, relative lift): chance that '{c.arm}' beats "
        f"'{c.control}' {b.chance_to_win * 100:.1f}%, {level} credible interval "
        f"{fmt_pct(b.ci_low)} to {fmt_pct(b.ci_high)}; expected loss of choosing '{c.arm}' "
        f"{choose}, of keeping '{c.control}' {keep}."
    )


def sequential_sentence(c: Comparison, kind: str, level: str) -> str:
    """The always-valid interval and p-value, or why there are none."""
    seq = c.sequential
    assert seq is not None
    named = f"Always valid (sequential, tightest at {seq.tuning:,} units)"
    if seq.no_estimate_reason is not None:
        return f" {named}: no estimate: {seq.no_estimate_reason}."
    a, rel = seq.absolute, seq.relative
    relative = (
        f", relative {bounds(rel, fmt_pct)}"
        if rel.error is None
        else f", no relative interval ({no_estimate_reason(rel.error)})"
    )
    return (
        f" {named}: {level} interval {interval(a, kind)}{relative}, {p_is(a.p_value)}; "
        "it stays valid however often the experiment is looked at."
    )


def not_estimable_sentence(rows: list[SubgroupEffect], what: str) -> str | None:
    """One line listing the segment levels that have no estimate, each with its reason."""
    missing = [s for s in rows if s.no_estimate_reason is not None]
    if not missing:
        return None
    return (
        f"{what} without an estimate (reported, not dropped): "
        + "; ".join(
            f"{s.outcome}, '{s.arm}', {s.segment} = {s.value}: {s.no_estimate_reason}"
            for s in missing
        )
        + "."
    )


def _balance_sentence(result: ExperimentResult) -> str:
    if not result.balance:
        return "No pre-treatment covariates were given, so covariate balance was not checked."
    undefined = sorted(
        {b.covariate for b in result.balance if not math.isfinite(b.standardized_difference)}
    )
    imbalanced = [
        b
        for b in result.balance
        if math.isfinite(b.standardized_difference) and abs(b.standardized_difference) > 0.1
    ]
    if imbalanced:
        text = "Covariates with a standardized difference above 0.1: " + ", ".join(
            f"{b.covariate} ({b.standardized_difference:+.2f})" for b in imbalanced
        )
        text += "."
    elif len(undefined) < len({b.covariate for b in result.balance}):
        text = (
            "Pre-treatment covariates are balanced between arms (all standardized "
            "differences within ±0.1)."
        )
    else:
        text = ""
    if undefined:
        text += (
            f"{' ' if text else ''}No standardized difference for {', '.join(undefined)}: "
            "it does not vary, so balance on it cannot be judged."
        )
    return text


def conclusions(result: ExperimentResult) -> list[str]:
    """The headline findings, in order: what the data are (rows set aside, assumptions),
    validity checks, effects, heterogeneity, power."""
    out = list(result.data_notes)
    srm = result.sample_ratio
    planned = "/".join(f"{s * 100:g}" for s in srm.expected_shares)
    if srm.p_value < 0.001:
        out.append(
            f"Warning: arm sizes {srm.counts} are very unlikely under the planned {planned} split "
            f"(sample-ratio test {p_is(srm.p_value)}). Randomization or logging may be "
            "broken; treat every estimate below with suspicion."
        )
    else:
        sizes = ", ".join(f"{a}: {n:,}" for a, n in zip(srm.arms, srm.counts, strict=True))
        out.append(
            f"Arm sizes {sizes} "
            f"are consistent with the planned {planned} split (sample-ratio test "
            f"{p_is(srm.p_value)})."
        )
    out.append(_balance_sentence(result))
    for r in result.outcomes:
        for c in r.comparisons:
            out.append(comparison_sentence(r, c, result.alpha))
    tested = [t for t in result.heterogeneity if math.isfinite(t.p_value)]
    for t in tested:
        if t.p_holm < result.alpha:
            out.append(
                f"The effect of '{t.arm}' on {t.outcome} differs by {t.segment} (test of equal "
                f"effects {p_is(t.p_value)}, Holm-adjusted {fmt_p(t.p_holm)})."
            )
    hetero_any = any(t.p_holm < result.alpha for t in tested)
    if not hetero_any and tested:
        smallest = min(tested, key=lambda t: t.p_value)
        out.append(
            "No segment's effect differs from the others' beyond what multiple testing allows "
            f"(smallest: {smallest.segment} for {smallest.outcome}, {p_is(smallest.p_value)}, "
            f"Holm-adjusted {fmt_p(smallest.p_holm)}); subgroup estimates are noisy and "
            "should not be read one by one."
        )
    for t in result.heterogeneity:
        if t.no_estimate_reason is not None:
            out.append(
                f"No test of equal effects of '{t.arm}' on {t.outcome} by {t.segment}: "
                f"{t.no_estimate_reason}."
            )
        elif t.not_estimable:
            out.append(
                f"The test of equal effects of '{t.arm}' on {t.outcome} by {t.segment} uses "
                f"{', '.join(t.levels)}; {', '.join(t.not_estimable)} "
                f"{'has' if len(t.not_estimable) == 1 else 'have'} no estimate."
            )
    for rows, what in (
        (list(result.subgroups), "Segment levels"),
        (list(result.segment_effects), "Customer segments"),
    ):
        line = not_estimable_sentence(rows, what)
        if line:
            out.append(line)
    for pw in result.power[:1]:
        if not math.isfinite(pw.mde_relative):
            out.append(
                f"No minimum detectable effect for {pw.outcome}: "
                f"{pw.no_estimate_reason or 'it does not exist for these arm sizes'}."
            )
            continue
        need = (
            f"; a 10% lift would need about {pw.n_per_arm_for_10pct_lift:,} units per arm"
            if pw.n_per_arm_for_10pct_lift is not None
            else ""
        )
        out.append(
            f"With {pw.n_control:,} and {pw.n_treatment:,} units, the design detects a change "
            f"in {pw.outcome} of {fmt_pct(pw.mde_relative, signed=False)} (relative) with "
            f"{pw.target_power:.0%} power{need}."
        )
    return out


METHOD_NOTES = (
    "Effects are differences in means between each arm and control, with Welch's "
    "unequal-variance standard error and Welch–Satterthwaite degrees of freedom. Relative "
    "changes divide by the control mean; their intervals are Fieller's (every ratio the Welch "
    "test does not reject), which follow the ratio's skew and exclude 0% exactly when the "
    "absolute interval excludes 0. Where the control mean cannot be told from zero there is "
    "no bounded relative interval, and the output says so.",
    "Intervals are flagged when an arm has fewer than 10 units, the Welch degrees of freedom "
    "are below 10, an arm's mean has a relative standard error above 15% (a skewed or sparse "
    "outcome, e.g. spend by few buyers), or a proportion has fewer than 10 units with or "
    "without the outcome. On a calibration grid of skewed spend (20 to 20,000 units per arm, "
    "2-30% spending, lognormal amounts) every unflagged interval covered 93-97%.",
    "Proportions use the binomial variance p(1-p). Ratio outcomes (a sum over a count) use "
    "the delta method with the covariance of numerator and denominator.",
    "The regression-adjusted estimate is Lin's (2013) fully interacted estimator: the outcome "
    "regressed on the arm, the pre-treatment covariates and their interactions, with "
    "HC2 heteroskedasticity-robust standard errors. It targets the same average effect and "
    "is never less efficient asymptotically.",
    "Subgroup effects are Welch estimates within each level; whether they differ is a Wald "
    "test of equal effects (Cochran's Q). Holm (family-wise) and Benjamini–Hochberg "
    "(false discovery rate) adjustments are applied within each outcome and arm.",
    "The sample-ratio test is Pearson's chi-square of arm counts against planned weights.",
    "The minimum detectable effect uses the control arm's variance, the real sizes of both "
    "arms (absolute and relative alike), a two-sided test at the stated alpha and 80% power.",
    "An arm in which every unit has the same value still gives a Welch estimate (the "
    "interval then counts only the other arm's variance, and says so). There is no estimate "
    "when both arms are constant, an arm has fewer than 2 units, a ratio's denominator sums "
    "to zero, or a segment level has no units in an arm: those rows say 'no estimate' and "
    "why, and stay out of the Holm/BH families and the test of equal effects.",
    "An interval is flagged when an arm has fewer than 10 units or the Welch degrees of "
    "freedom are below 10. HC2 errors are undefined when a unit has leverage 1 (an arm with "
    "no more units than regression parameters): then no adjusted estimate is given. A "
    "covariate constant in an arm or collinear with others is left out of the adjustment, "
    "with a note.",
    "Customer segments come from k-means on standardized pre-treatment covariates only, so "
    "each segment is fixed before treatment and its effect is still a randomized "
    "comparison; k maximizes the mean silhouette.",
    "All statistics are computed from sufficient statistics (counts, sums, sums of squares "
    "and cross-products) aggregated in SQL.",
)


def method_notes(result: ExperimentResult) -> tuple[str, ...]:
    """How the figures were made, with what this analysis chose."""
    notes = list(METHOD_NOTES)
    if result.alternative != "two-sided":
        direction = "raises" if result.alternative == "greater" else "lowers"
        notes.append(
            f"This analysis is one-sided (--alternative {result.alternative}): each "
            f"comparison's p-value and interval test that the arm {direction} the outcome, and "
            "the minimum detectable effect plans for that one-sided test; subgroup effects "
            "stay two-sided."
        )
    families = [f for f in ("primary", "secondary", "guardrail")
                if any(r.family == f for r in result.outcomes)]  # fmt: skip
    if families != ["primary"]:
        notes.append(
            "Multiple testing: Holm and Benjamini-Hochberg adjust within each declared family "
            f"({', '.join(families)}) across its outcomes and arms, so secondary outcomes and "
            "guardrails do not dilute the primary ones."
        )
    tunings = sorted(
        {c.sequential.tuning for r in result.outcomes for c in r.comparisons if c.sequential}
    )
    if tunings:
        notes.append(
            "Always-valid intervals (--sequential) are asymptotic confidence sequences "
            "(Waudby-Smith et al. 2023, as in GrowthBook's sequential testing), tuned to be "
            f"tightest at {', '.join(f'{t:,}' for t in tunings)} units: unlike the "
            "fixed-horizon interval they keep their coverage however often a running "
            "experiment is looked at, and are wider for it. They use the unadjusted "
            "estimates; their p-values are not multiplicity-adjusted."
        )
    return tuple(notes)
