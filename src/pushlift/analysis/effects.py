"""Treatment effects per outcome: Welch, the relative lift with Fieller's interval, the
regression-adjusted estimate, and the flags for intervals that may not be calibrated."""

from __future__ import annotations

import math

import duckdb
import numpy as np
import scipy.stats as sps

from pushlift.analysis.regression import OlsFit, Regressor, fit_ols_many
from pushlift.analysis.results import AdjustedEffect, ArmOutcome, Comparison, Omnibus
from pushlift.analysis.spec import ExperimentSpec, Outcome
from pushlift.analysis.sql import ident, text
from pushlift.analysis.stats import (
    Alternative,
    EffectEstimate,
    Proportion,
    RatioStatistic,
    SampleMean,
    Statistic,
    fieller_test,
    is_finite,
    no_estimate_reason,
    welch_anova,
    welch_test,
)

# Small-sample rule: an arm with fewer units than this, or a Welch interval on fewer
# degrees of freedom, is flagged. Below it a variance estimate rests on too few units
# for the t interval's coverage to be trusted without normal data (and the adjusted
# estimate's residual degrees of freedom, which pool both arms, overstate it).
MIN_ARM_UNITS = 10
MIN_WELCH_DOF = 10.0
# Skew rule (tests/analysis/test_relative_calibration.py): where an arm's mean has a
# relative standard error above this (sd / (|mean| sqrt(n)); about 44 "effective" units,
# n mean^2 / sd^2), a skewed outcome's mean is not yet near normal and the intervals can
# cover well under 95% (heavy-tailed spend: 75-90%). Below it, on the calibration grid
# (n 20-20,000 per arm, 2-30% non-zero, lognormal sigma 1-2.5), every interval covered
# 93-97%. Proportions use a count rule instead: at least MIN_EVENTS units with and without.
MAX_RELATIVE_SE = 0.15
MIN_EVENTS = 10


def arm_outcome(arm: str, stat: Statistic) -> ArmOutcome:
    """Size, mean and per-unit SD of one arm; NaN where a figure does not exist."""
    n = stat.n
    if n == 0 or not is_finite(stat):
        return ArmOutcome(arm, n, math.nan, math.nan)
    if isinstance(stat, RatioStatistic) and stat.d_sum == 0:
        return ArmOutcome(arm, n, math.nan, math.nan)  # a ratio over a zero denominator
    var = stat.variance if n > 1 else math.nan
    return ArmOutcome(arm, n, stat.mean, math.sqrt(var) if var >= 0 else math.nan)


def omnibus(outcome: Outcome, stats: list[Statistic]) -> Omnibus | None:
    """Welch ANOVA across all arms (means and proportions only; needs three or more arms)."""
    if len(stats) < 3 or outcome.kind == "ratio":
        return None
    usable = [s for s in stats if isinstance(s, SampleMean | Proportion)]
    res = welch_anova(usable)
    if res.error is not None:
        nan = math.nan
        return Omnibus(outcome.name, nan, res.df_num, nan, nan, no_estimate_reason(res.error))
    return Omnibus(outcome.name, res.statistic, res.df_num, res.df_den, res.p_value)


def sample_size_warnings(
    control: str,
    arm: str,
    control_stat: Statistic,
    arm_stat: Statistic,
    welch: EffectEstimate,
    adjusted: AdjustedEffect | None = None,
) -> tuple[str, ...]:
    """Flags for intervals that may be too narrow, by a fixed rule.

    * an arm with fewer than MIN_ARM_UNITS units;
    * a Welch interval on fewer than MIN_WELCH_DOF degrees of freedom;
    * the skew rule (`_rough`): an arm's mean with a relative standard error above
      MAX_RELATIVE_SE, or a proportion with fewer than MIN_EVENTS units with or without;
    * an arm with no variation (a proportion of 0% or 100%, or a constant value), whose
      sampling variance then counts as zero.
    """
    out = []
    arms = ((control, control_stat), (arm, arm_stat))
    small = [(a, s.n) for a, s in arms if s.n < MIN_ARM_UNITS]
    if small:
        which = ", ".join(f"'{a}' has {n} unit{'s' if n != 1 else ''}" for a, n in small)
        line = (
            f"Small arm: {which} (fewer than {MIN_ARM_UNITS}); a variance from so few units "
            "is unreliable, so the intervals may be too narrow"
        )
        if adjusted is not None and adjusted.effect.dof is not None:
            line += (
                f"; the adjusted estimate's {adjusted.effect.dof:.0f} residual degrees of "
                "freedom pool both arms and overstate what the small arm tells"
            )
        out.append(line + ".")
    if welch.error is None and welch.dof is not None and welch.dof < MIN_WELCH_DOF:
        out.append(
            f"Few degrees of freedom: the Welch interval has {welch.dof:.1f} (fewer than "
            f"{MIN_WELCH_DOF:g}), so its coverage depends on the outcome being close to normal."
        )
    rough = [(a, rse) for a, s in arms if (rse := _rough(s)) is not None]
    if welch.error is None and rough:
        which = ", ".join(f"'{a}' {rse * 100:.0f}%" for a, rse in rough)
        out.append(
            f"Skewed or sparse outcome: the mean's relative standard error is {which} (above "
            f"{MAX_RELATIVE_SE * 100:.0f}%), so the mean is not yet near normal and the "
            "intervals may cover less than stated."
        )
    constant = [a for a, s in arms if s.n > 1 and is_finite(s) and s.variance == 0]
    if welch.error is None and constant:
        out.append(
            f"No variation in {', '.join(repr(a) for a in constant)}: every unit has the same "
            "value, so the interval counts only the other arm's variance. That is right if "
            "the value cannot vary; if it merely did not (a rare event in a small arm), the "
            "interval is too narrow."
        )
    return tuple(out)


def _rough(stat: Statistic) -> float | None:
    """The skew rule for one arm: the mean's relative standard error when it is above
    MAX_RELATIVE_SE (for a proportion: 1.0 when it has fewer than MIN_EVENTS units with,
    or without, the outcome); None when the arm passes or has no usable mean."""
    if stat.n < 2 or not is_finite(stat):
        return None
    if isinstance(stat, Proportion):
        few = min(stat.sum, stat.n - stat.sum) < MIN_EVENTS and 0 < stat.sum < stat.n
        return 1.0 if few else None
    mean, var = stat.mean, stat.variance
    if mean == 0 or not var > 0:
        return None  # the zero-mean and constant cases have their own messages
    rse = math.sqrt(var / stat.n) / abs(mean)
    return rse if rse > MAX_RELATIVE_SE else None


def compare(
    con: duckdb.DuckDBPyConnection,
    spec: ExperimentSpec,
    outcome: Outcome,
    arm: str,
    control_stat: Statistic,
    arm_stat: Statistic,
    alpha: float,
    alternative: Alternative = "two-sided",
    fit: OlsFit | ValueError | None = None,
) -> Comparison:
    """One arm against control: Welch difference, relative lift (Fieller), Lin adjustment,
    flags.
    `alternative` "greater" tests that the arm raises the outcome, "less" that it lowers
    it; the intervals are then one-sided (the adjusted one follows the unadjusted).

    One constant arm still gives the Welch estimate (see ``stats.welch_test``).
    """
    absolute = welch_test(control_stat, arm_stat, relative=False, alpha=alpha,
                          alternative=alternative, allow_constant_arm=True)  # fmt: skip
    relative = fieller_test(control_stat, arm_stat, alpha=alpha, alternative=alternative,
                            allow_constant_arm=True)  # fmt: skip
    adjusted = adjusted_effect(con, spec, outcome, arm, absolute, alpha, fit=fit)
    warnings = sample_size_warnings(spec.control, arm, control_stat, arm_stat, absolute, adjusted)
    return Comparison(
        outcome.name,
        arm,
        spec.control,
        absolute,
        relative,
        adjusted,
        math.nan,
        math.nan,
        spec.truth.get((outcome.name, "all", "all")),
        warnings,
    )


def _constant_in(fit: OlsFit, term: int, interaction: int, arms: tuple[str, str]) -> list[str]:
    """Arms in which the covariate column ``term`` is constant, read from X'X (column 0 is
    the intercept, 1 the treatment indicator, ``interaction`` its product with the term)."""
    g = fit.gram
    assert g is not None
    n_t = int(round(g[1, 1]))
    treated = SampleMean(n_t, g[1, term], g[interaction, interaction])
    control = SampleMean(
        fit.n - n_t, g[0, term] - g[1, term], g[term, term] - g[interaction, interaction]
    )
    return [a for a, s in zip(arms, (control, treated), strict=True) if s.variance == 0]


def _no_adjusted_estimate(
    reason: str,
    cov_type: str,
    n: int = 0,
    *,
    used: tuple[str, ...] = (),
    dropped: tuple[str, ...] = (),
    notes: tuple[str, ...] = (),
    sizes: dict[str, int] | None = None,
) -> AdjustedEffect:
    nan = math.nan
    return AdjustedEffect(
        effect=EffectEstimate(nan, nan, nan, nan, nan, None, False, "two-sided", reason),
        n=n,
        cov_type=cov_type,
        covariates=used,
        ci_narrowing=nan,
        r_squared=nan,
        dropped=dropped,
        notes=notes,
        **(sizes or {}),
    )


def _lin_design(spec: ExperimentSpec, arm: str) -> tuple[list[Regressor], list[list[int]], str]:
    """Lin's regressors for `arm` against control (intercept, treatment, covariate terms,
    their interactions), the optional groups (a covariate's terms and interactions are kept
    or dropped together) and the rows (the two arms)."""
    treat = f"CAST(CAST({ident(spec.arm)} AS VARCHAR) = {text(arm)} AS DOUBLE)"
    terms = [t for c in spec.covariates for t in c.terms]
    owner = [c.name for c in spec.covariates for _ in c.terms]
    k = len(terms)
    regs = [Regressor("const", "1"), Regressor("treated", treat)]
    regs += [Regressor(name, expr) for name, expr in terms]
    regs += [Regressor(f"treated:{name}", f"{treat} * ({expr})") for name, expr in terms]
    groups = [
        [2 + i for i in range(k) if owner[i] == c.name]
        + [2 + k + i for i in range(k) if owner[i] == c.name]
        for c in spec.covariates
    ]
    where = f"CAST({ident(spec.arm)} AS VARCHAR) IN ({text(spec.control)}, {text(arm)})"
    return regs, groups, where


def adjusted_fits(
    con: duckdb.DuckDBPyConnection,
    spec: ExperimentSpec,
    arm: str,
    outcomes: list[Outcome],
    cov_type: str = "HC2",
) -> dict[str, OlsFit | ValueError]:
    """Lin's regression of every outcome that is adjusted (not ratios) for `arm`, sharing
    two scans: per outcome name its fit, or why there is none (for `adjusted_effect`)."""
    adjusted = [o for o in outcomes if o.kind != "ratio"]
    if not spec.covariates or not adjusted:
        return {}
    regs, groups, where = _lin_design(spec, arm)
    fits = fit_ols_many(
        con,
        spec.relation,
        [f"CAST({ident(o.column)} AS DOUBLE)" for o in adjusted],
        regs,
        where=where,
        cov_type=cov_type,  # type: ignore[arg-type]
        optional=groups,
    )
    return {o.name: fit for o, fit in zip(adjusted, fits, strict=True)}


def adjusted_effect(
    con: duckdb.DuckDBPyConnection,
    spec: ExperimentSpec,
    outcome: Outcome,
    arm: str,
    unadjusted: EffectEstimate,
    alpha: float,
    cov_type: str = "HC2",
    fit: OlsFit | ValueError | None = None,
) -> AdjustedEffect | None:
    """Lin's fully interacted estimator: y ~ 1 + T + X + T*X, effect = b_T + b_TX . mean(X).

    Robust (default HC2) covariance; the effect is the contrast with the covariate means of
    the two arms pooled, which equals the coefficient of T when X is centred. A covariate
    that is constant in an arm or collinear with the others is left out (named in
    ``dropped`` and ``notes``); the others still adjust. When nothing can be estimated
    (no usable covariate, too few units, HC2 undefined at leverage 1) the result says why.
    `fit`: the regression already done (`adjusted_fits`); fitted here when not given.
    """
    if not spec.covariates or outcome.kind == "ratio":
        return None
    terms = [t for c in spec.covariates for t in c.terms]
    owner = [c.name for c in spec.covariates for _ in c.terms]
    k = len(terms)
    if fit is None:
        regs, groups, where = _lin_design(spec, arm)
        fit = fit_ols_many(
            con,
            spec.relation,
            [f"CAST({ident(outcome.column)} AS DOUBLE)"],
            regs,
            where=where,
            cov_type=cov_type,  # type: ignore[arg-type]
            optional=groups,
        )[0]
    if isinstance(fit, ValueError):
        return _no_adjusted_estimate(f"NO_FIT: {fit}", cov_type)
    assert fit.gram is not None
    n_treatment = int(round(fit.gram[1, 1]))
    sizes = {"n_control": fit.n - n_treatment, "n_treatment": n_treatment}
    dropped_names = set(fit.dropped)
    dropped = tuple(
        c.name for c in spec.covariates if any(name in dropped_names for name, _ in c.terms)
    )
    used = tuple(c.name for c in spec.covariates if c.name not in dropped)
    notes = []
    for c in spec.covariates:
        if c.name not in dropped:
            continue
        constant = sorted(
            {
                a
                for i in range(k)
                if owner[i] == c.name
                for a in _constant_in(fit, 2 + i, 2 + k + i, (spec.control, arm))
            }
        )
        arms = " and ".join(repr(a) for a in constant)
        why = (
            f"it is constant in {'arm' if len(constant) == 1 else 'arms'} {arms}"
            if constant
            else "it is collinear with the other covariates (or too few units vary in it)"
        )
        notes.append(f"Covariate '{c.name}' left out of the adjustment: {why}.")
    if not used:
        return _no_adjusted_estimate(
            "NO_COVARIATE: no covariate is usable. " + " ".join(notes),
            cov_type,
            fit.n,
            dropped=dropped,
            notes=tuple(notes),
            sizes=sizes,
        )
    if fit.cov_undefined is not None:
        return _no_adjusted_estimate(
            f"{cov_type}_UNDEFINED: {fit.cov_undefined}",
            cov_type,
            fit.n,
            used=used,
            dropped=dropped,
            notes=tuple(notes),
            sizes=sizes,
        )
    index = {name: i for i, name in enumerate(fit.names)}
    weights = np.zeros(len(fit.names))
    weights[index["treated"]] = 1.0
    for name, _ in terms:
        if name in index:
            weights[index[f"treated:{name}"]] = fit.means[index[name]]
    est, se = fit.contrast(weights)
    dof = fit.df_resid
    effect, width = _t_interval(est, se, dof, alpha, unadjusted.alternative)
    # How much narrower than the unadjusted interval, on the side(s) the test looks at.
    unadj_width = {
        "two-sided": (unadjusted.ci_high - unadjusted.ci_low) / 2,
        "greater": unadjusted.estimate - unadjusted.ci_low,
        "less": unadjusted.ci_high - unadjusted.estimate,
    }[unadjusted.alternative]
    narrowing = 1 - width / unadj_width if unadj_width > 0 else math.nan
    return AdjustedEffect(
        effect=effect,
        n=fit.n,
        cov_type=cov_type,
        covariates=used,
        ci_narrowing=narrowing,
        r_squared=fit.r_squared,
        dropped=dropped,
        notes=tuple(notes),
        **sizes,
    )


def _t_interval(
    est: float, se: float, dof: float, alpha: float, alternative: str
) -> tuple[EffectEstimate, float]:
    """A t-based estimate for `alternative` (as `stats.welch_test` gives them), and the
    interval's half-width on the side(s) it bounds."""
    t = est / se if se > 0 else math.nan
    if alternative == "two-sided":
        width = float(sps.t.ppf(1 - alpha / 2, dof)) * se
        low, high, p = est - width, est + width, 2 * sps.t.sf(abs(t), dof)
    elif alternative == "greater":
        width = float(sps.t.ppf(1 - alpha, dof)) * se
        low, high, p = est - width, math.inf, sps.t.sf(t, dof)
    else:
        width = float(sps.t.ppf(1 - alpha, dof)) * se
        low, high, p = -math.inf, est + width, sps.t.cdf(t, dof)
    p = float(p) if se > 0 else math.nan
    return EffectEstimate(est, se, low, high, p, float(dof), False, alternative), width
