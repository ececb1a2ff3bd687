"""Inverse propensity weighting on a small unit table: logistic propensity, trimming,
weighted difference in means with a robust error, and the overlap diagnostics.

Estimand: the average effect over the (trimmed) population, with normalized (Hajek)
weights 1/e for treated and 1/(1-e) for control units. The standard error is the HC1
sandwich of the weighted regression of y on (1, t), with the weights treated as known;
it ignores the propensity model's own uncertainty (with estimated propensities the true
error of this estimator is usually a little smaller, so the interval errs on the wide side).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from pushlift.analysis.stats import EffectEstimate


@dataclass(frozen=True)
class LogitFit:
    """Maximum-likelihood logistic regression (Newton-Raphson)."""

    names: tuple[str, ...]
    params: np.ndarray
    cov: np.ndarray  # inverse Fisher information
    n: int
    iterations: int
    converged: bool

    def predict(self, x: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-(x @ self.params)))


def fit_logit(
    x: np.ndarray, t: np.ndarray, names: tuple[str, ...], *, max_iter: int = 100
) -> LogitFit:
    """Fit P(t = 1 | x) = logistic(x b); x includes the intercept column."""
    b = np.zeros(x.shape[1])
    converged = False
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 (it is reported)
        p = 1 / (1 + np.exp(-(x @ b)))
        w = p * (1 - p)
        info = x.T @ (x * w[:, None])
        step = np.linalg.solve(info, x.T @ (t - p))
        b = b + step
        if np.max(np.abs(step)) < 1e-10:
            converged = True
            break
    p = 1 / (1 + np.exp(-(x @ b)))
    info = x.T @ (x * (p * (1 - p))[:, None])
    return LogitFit(names, b, np.linalg.inv(info), len(t), it, converged)


@dataclass(frozen=True)
class Balance:
    """Standardized difference (treated - control, over the pooled unweighted sd)."""

    covariate: str
    smd_before: float
    smd_after: float


@dataclass(frozen=True)
class Overlap:
    trim_low: float
    trim_high: float
    trimmed_treated: int
    trimmed_control: int
    n_treated: int  # after trimming
    n_control: int
    ess_treated: float  # (sum w)^2 / sum w^2 within the group, after trimming
    ess_control: float
    max_weight_share: float  # largest single weight / total weight of its group
    propensity_quantiles_treated: tuple[float, ...]  # at QUANTILES, before trimming
    propensity_quantiles_control: tuple[float, ...]
    balance: tuple[Balance, ...]


QUANTILES = (0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0)


@dataclass(frozen=True)
class IpwEstimate:
    effect: EffectEstimate
    mean_treated: float  # weighted outcome means
    mean_control: float
    n: int


def _smd(x: np.ndarray, t: np.ndarray, w: np.ndarray, sd: float) -> float:
    if sd == 0:
        return math.nan
    m1 = np.average(x[t == 1], weights=w[t == 1])
    m0 = np.average(x[t == 0], weights=w[t == 0])
    return float((m1 - m0) / sd)


def ipw_weights(t: np.ndarray, e: np.ndarray) -> np.ndarray:
    return np.where(t == 1, 1 / e, 1 / (1 - e))


def overlap(
    e: np.ndarray,
    t: np.ndarray,
    covariates: dict[str, np.ndarray],
    *,
    trim: tuple[float, float],
) -> tuple[Overlap, np.ndarray]:
    """Diagnostics and the mask of units kept by trimming to trim[0] <= e <= trim[1]."""
    keep = (e >= trim[0]) & (e <= trim[1])
    w = ipw_weights(t, e)
    balance = []
    for name, x in covariates.items():
        # Pooled sd of the untrimmed groups, so before and after share one yardstick.
        sd = math.sqrt((np.var(x[t == 1], ddof=1) + np.var(x[t == 0], ddof=1)) / 2)
        before = _smd(x, t, np.ones_like(x, dtype=float), sd)
        after = _smd(x[keep], t[keep], w[keep], sd)
        balance.append(Balance(name, before, after))

    def ess(g: int) -> float:
        wg = w[keep & (t == g)]
        return float(wg.sum() ** 2 / (wg**2).sum()) if wg.size else 0.0

    def share(g: int) -> float:
        wg = w[keep & (t == g)]
        return float(wg.max() / wg.sum()) if wg.size else math.nan

    def q(g: int) -> tuple[float, ...]:
        return tuple(float(v) for v in np.quantile(e[t == g], QUANTILES))

    diag = Overlap(
        trim_low=trim[0],
        trim_high=trim[1],
        trimmed_treated=int(((~keep) & (t == 1)).sum()),
        trimmed_control=int(((~keep) & (t == 0)).sum()),
        n_treated=int((keep & (t == 1)).sum()),
        n_control=int((keep & (t == 0)).sum()),
        ess_treated=ess(1),
        ess_control=ess(0),
        max_weight_share=max(share(1), share(0)),
        propensity_quantiles_treated=q(1),
        propensity_quantiles_control=q(0),
        balance=tuple(balance),
    )
    return diag, keep


def ipw_effect(
    y: np.ndarray, t: np.ndarray, e: np.ndarray, *, alpha: float = 0.05
) -> IpwEstimate:
    """Hajek IPW difference in means: weighted least squares of y on (1, t), HC1 errors."""
    w = ipw_weights(t, e)
    x = np.column_stack([np.ones_like(y, dtype=float), t.astype(float)])
    xtwx = x.T @ (x * w[:, None])
    beta = np.linalg.solve(xtwx, x.T @ (w * y))
    resid = y - x @ beta
    bread = np.linalg.inv(xtwx)
    meat = x.T @ (x * ((w * resid) ** 2)[:, None])
    n, k = x.shape
    cov = bread @ meat @ bread * n / (n - k)
    est, se = float(beta[1]), float(math.sqrt(cov[1, 1]))
    z = float(sps.norm.ppf(1 - alpha / 2))
    p = float(2 * sps.norm.sf(abs(est / se))) if se > 0 else math.nan
    effect = EffectEstimate(est, se, est - z * se, est + z * se, p, None, False, "two-sided")
    return IpwEstimate(effect, float(beta[0] + beta[1]), float(beta[0]), int(n))
