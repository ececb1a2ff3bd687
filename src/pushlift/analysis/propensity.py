"""Inverse propensity weighting on a small unit table: logistic propensity, trimming,
weighted difference in means with a robust error, and the overlap diagnostics.

Estimand: the average effect over the (trimmed) population, with normalized (Hajek)
weights 1/e for treated and 1/(1-e) for control units. The standard error is the
M-estimation sandwich of the stacked estimating equations (the logistic score and the two
weighted means; Lunceford & Davidian 2004), so it accounts for the propensities being
estimated. The trimming set is taken as given (it is not differentiable in the
coefficients).
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
    n: int  # units kept after trimming
    se_method: str  # how the standard error was computed, in words


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


IPW_SE_METHOD = (
    "M-estimation sandwich of the logistic propensity score and the weighted means "
    "(propensities estimated, not known)"
)


def _stacked_psi(
    x: np.ndarray, t: np.ndarray, y: np.ndarray, e: np.ndarray, keep: np.ndarray,
    mu1: float, mu0: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-unit estimating functions (n x p+2) and minus their mean Jacobian A (p+2 square).

    Parameters are (logit coefficients b, mu1, mu0); units outside `keep` contribute only
    to the logistic score (the propensity model is fitted on everyone).
    """
    n, p = x.shape
    k1 = keep & (t == 1)
    k0 = keep & (t == 0)
    r1 = np.where(k1, (y - mu1) / e, 0.0)  # d(1/e)/db = -(1 - e)/e x
    r0 = np.where(k0, (y - mu0) / (1 - e), 0.0)  # d(1/(1-e))/db = e/(1 - e) x
    psi = np.column_stack([x * (t - e)[:, None], r1, r0])
    a = np.zeros((p + 2, p + 2))
    a[:p, :p] = x.T @ (x * (e * (1 - e))[:, None]) / n
    a[p, :p] = (r1 * (1 - e)) @ x / n
    a[p + 1, :p] = -(r0 * e) @ x / n
    a[p, p] = float(np.sum(np.where(k1, 1 / e, 0.0))) / n
    a[p + 1, p + 1] = float(np.sum(np.where(k0, 1 / (1 - e), 0.0))) / n
    return psi, a


def ipw_effect(
    y: np.ndarray,
    t: np.ndarray,
    x: np.ndarray,
    logit: LogitFit,
    keep: np.ndarray,
    *,
    alpha: float = 0.05,
) -> IpwEstimate:
    """Hajek IPW difference in means over the kept units, with the stacked sandwich error.

    `x` is the propensity design (intercept included) of all units and `logit` its fit;
    `keep` marks the units inside the trimming bounds. The covariance is A^-1 B A^-T / n
    with a degrees-of-freedom factor n / (n - p - 2), as HC1 does for regressions.
    """
    e = logit.predict(x)
    w = ipw_weights(t, e)
    k1, k0 = keep & (t == 1), keep & (t == 0)
    mu1 = float(np.average(y[k1], weights=w[k1]))
    mu0 = float(np.average(y[k0], weights=w[k0]))
    psi, a = _stacked_psi(x, t, y, e, keep, mu1, mu0)
    n, q = psi.shape
    a_inv = np.linalg.inv(a)
    cov = a_inv @ (psi.T @ psi / n) @ a_inv.T / n * n / (n - q)
    c = np.zeros(q)
    c[-2:] = (1.0, -1.0)
    est, se = mu1 - mu0, float(math.sqrt(c @ cov @ c))
    z = float(sps.norm.ppf(1 - alpha / 2))
    p = float(2 * sps.norm.sf(abs(est / se))) if se > 0 else math.nan
    effect = EffectEstimate(est, se, est - z * se, est + z * se, p, None, False, "two-sided")
    return IpwEstimate(effect, mu1, mu0, int(keep.sum()), IPW_SE_METHOD)
