"""An independent IPW computation for the tests: statsmodels' logistic fit, the stacked
estimating equations written out directly, their Jacobian by finite differences, and a
bootstrap of the whole procedure (propensity refitted and trimmed again each time)."""

from __future__ import annotations

import numpy as np
import statsmodels.api as sm


def _psi(theta: np.ndarray, x: np.ndarray, t: np.ndarray, y: np.ndarray,
         keep: np.ndarray) -> np.ndarray:
    """Per-unit estimating functions of (logit coefficients, mu1, mu0)."""
    b, mu1, mu0 = theta[:-2], theta[-2], theta[-1]
    e = 1 / (1 + np.exp(-(x @ b)))
    score = x * (t - e)[:, None]
    m1 = keep * t * (y - mu1) / e
    m0 = keep * (1 - t) * (y - mu0) / (1 - e)
    return np.column_stack([score, m1, m0])


def stacked_ipw(x: np.ndarray, t: np.ndarray, y: np.ndarray,
                trim: tuple[float, float] = (0.05, 0.95)) -> tuple[float, float]:
    """Hajek IPW estimate and its stacked-sandwich SE (same n/(n-q) factor as pushlift)."""
    b = sm.GLM(t, x, family=sm.families.Binomial()).fit(tol=1e-12).params
    e = 1 / (1 + np.exp(-(x @ b)))
    keep = ((e >= trim[0]) & (e <= trim[1])).astype(float)
    w = np.where(t == 1, 1 / e, 1 / (1 - e)) * keep
    mu1 = float((w * t * y).sum() / (w * t).sum())
    mu0 = float((w * (1 - t) * y).sum() / (w * (1 - t)).sum())
    theta = np.concatenate([b, [mu1, mu0]])
    n, q = len(y), theta.size
    jac = np.zeros((q, q))
    for j in range(q):
        h = 1e-6 * max(1.0, abs(theta[j]))
        up, down = theta.copy(), theta.copy()
        up[j] += h
        down[j] -= h
        jac[:, j] = (_psi(up, x, t, y, keep).mean(0) - _psi(down, x, t, y, keep).mean(0)) / (2 * h)
    psi = _psi(theta, x, t, y, keep)
    bread = np.linalg.inv(jac)
    cov = bread @ (psi.T @ psi / n) @ bread.T / (n - q)
    return mu1 - mu0, float(np.sqrt(cov[-2, -2] + cov[-1, -1] - 2 * cov[-2, -1]))


def bootstrap_ipw_se(x: np.ndarray, t: np.ndarray, y: np.ndarray, *, reps: int, seed: int,
                     trim: tuple[float, float] = (0.05, 0.95)) -> float:
    """SD of the IPW estimate over nonparametric bootstrap resamples of the units."""
    rng = np.random.default_rng(seed)
    estimates = []
    for _ in range(reps):
        i = rng.integers(0, len(y), len(y))
        b = sm.Logit(t[i], x[i]).fit(disp=0, method="newton", tol=1e-10).params
        e = 1 / (1 + np.exp(-(x[i] @ b)))
        keep = (e >= trim[0]) & (e <= trim[1])
        w = np.where(t[i] == 1, 1 / e, 1 / (1 - e))
        yi, ti = y[i], t[i]
        m1 = np.average(yi[keep & (ti == 1)], weights=w[keep & (ti == 1)])
        m0 = np.average(yi[keep & (ti == 0)], weights=w[keep & (ti == 0)])
        estimates.append(m1 - m0)
    return float(np.std(estimates, ddof=1))
