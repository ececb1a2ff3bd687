"""OLS with HC2 robust errors on an in-memory design matrix (for small unit tables whose
design is too wide to inline into SQL, e.g. interacted location dummies)."""

from __future__ import annotations

import numpy as np


def ols_hc2(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Coefficients, HC2 covariance and R^2 of y on x (x includes the intercept column)."""
    n, k = x.shape
    if np.linalg.matrix_rank(x) < k:
        raise ValueError("regressors are collinear (a covariate is constant or duplicated)")
    xtx_inv = np.linalg.inv(x.T @ x)
    beta = xtx_inv @ (x.T @ y)
    resid = y - x @ beta
    leverage = np.einsum("ij,jk,ik->i", x, xtx_inv, x)
    meat = x.T @ (x * (resid**2 / (1 - leverage))[:, None])
    cov = xtx_inv @ meat @ xtx_inv
    r2 = 1 - float(resid @ resid) / float(((y - y.mean()) ** 2).sum())
    return beta, cov, r2
