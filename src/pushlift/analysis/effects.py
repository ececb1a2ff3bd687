"""Treatment effects per outcome: Welch, delta-method lift and the regression-adjusted estimate."""

from __future__ import annotations

import math

import duckdb
import numpy as np
import scipy.stats as sps

from pushlift.analysis.regression import Regressor, fit_ols
from pushlift.analysis.results import AdjustedEffect, ArmOutcome, Omnibus
from pushlift.analysis.spec import ExperimentSpec, Outcome
from pushlift.analysis.sql import ident, text
from pushlift.analysis.stats import (
    EffectEstimate,
    Proportion,
    SampleMean,
    Statistic,
    welch_anova,
)


def arm_outcome(arm: str, stat: Statistic) -> ArmOutcome:
    n = stat.n
    if n == 0:
        return ArmOutcome(arm, 0, math.nan, math.nan)
    var = stat.variance if n > 1 else math.nan
    return ArmOutcome(arm, n, stat.mean, math.sqrt(var) if var >= 0 else math.nan)


def omnibus(outcome: Outcome, stats: list[Statistic]) -> Omnibus | None:
    """Welch ANOVA across all arms (means and proportions only; needs three or more arms)."""
    if len(stats) < 3 or outcome.kind == "ratio":
        return None
    usable = [s for s in stats if isinstance(s, SampleMean | Proportion)]
    res = welch_anova(usable)
    return Omnibus(outcome.name, res.statistic, res.df_num, res.df_den, res.p_value)


def adjusted_effect(
    con: duckdb.DuckDBPyConnection,
    spec: ExperimentSpec,
    outcome: Outcome,
    arm: str,
    unadjusted: EffectEstimate,
    alpha: float,
    cov_type: str = "HC2",
) -> AdjustedEffect | None:
    """Lin's fully interacted estimator: y ~ 1 + T + X + T*X, effect = b_T + b_TX . mean(X).

    Robust (default HC2) covariance; the effect is the contrast with the covariate means of
    the two arms pooled, which equals the coefficient of T when X is centred.
    """
    if not spec.covariates or outcome.kind == "ratio":
        return None
    treat = f"CAST(CAST({ident(spec.arm)} AS VARCHAR) = {text(arm)} AS DOUBLE)"
    terms = [t for c in spec.covariates for t in c.terms]
    regs = [Regressor("const", "1"), Regressor("treated", treat)]
    regs += [Regressor(name, expr) for name, expr in terms]
    regs += [Regressor(f"treated:{name}", f"{treat} * ({expr})") for name, expr in terms]
    where = f"CAST({ident(spec.arm)} AS VARCHAR) IN ({text(spec.control)}, {text(arm)})"
    y = f"CAST({ident(outcome.column)} AS DOUBLE)"
    fit = fit_ols(con, spec.relation, y, regs, where=where, cov_type=cov_type)  # type: ignore[arg-type]
    k = len(terms)
    weights = np.zeros(len(regs))
    weights[1] = 1.0
    weights[2 + k :] = fit.means[2 : 2 + k]
    est, se = fit.contrast(weights)
    dof = fit.df_resid
    width = float(sps.t.ppf(1 - alpha / 2, dof)) * se
    p = float(2 * sps.t.sf(abs(est / se), dof)) if se > 0 else math.nan
    effect = EffectEstimate(est, se, est - width, est + width, p, float(dof), False, "two-sided")
    unadj_width = unadjusted.ci_high - unadjusted.ci_low
    narrowing = 1 - 2 * width / unadj_width if unadj_width > 0 else math.nan
    return AdjustedEffect(
        effect=effect,
        n=fit.n,
        cov_type=cov_type,
        covariates=tuple(c.name for c in spec.covariates),
        ci_narrowing=narrowing,
        r_squared=fit.r_squared,
    )
