"""Least squares with heteroskedasticity-robust (HC0-HC3) errors from SQL aggregates.

The data never leave the database. Pass 1 sums X'X, X'y and y'y; the coefficients are
solved in Python. Pass 2 sums the sandwich "meat" sum_i w_i e_i^2 x_i x_i', with the
coefficients (and, for HC2/HC3, the inverse of X'X for the leverages) inlined as numeric
literals. Two scans of the table, each returning a p x p matrix, whatever the row count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import duckdb
import numpy as np

from pushlift.analysis.sql import literal

CovType = Literal["HC0", "HC1", "HC2", "HC3"]


@dataclass(frozen=True)
class Regressor:
    """One column of the design matrix: a display name and a SQL expression."""

    name: str
    sql: str


@dataclass(frozen=True)
class OlsFit:
    """An OLS fit: coefficients, their robust covariance, and fit statistics."""

    names: tuple[str, ...]
    params: np.ndarray
    cov: np.ndarray
    n: int
    df_resid: int
    r_squared: float
    cov_type: str
    means: np.ndarray  # column means of the design matrix

    def se(self) -> np.ndarray:
        return np.sqrt(np.diag(self.cov))

    def contrast(self, weights: np.ndarray) -> tuple[float, float]:
        """Estimate and standard error of the linear combination weights' beta."""
        w = np.asarray(weights, dtype=float)
        return float(w @ self.params), float(np.sqrt(w @ self.cov @ w))


def _products(exprs: list[str]) -> list[tuple[int, int, str]]:
    return [
        (i, j, f"{exprs[i]} * {exprs[j]}") for i in range(len(exprs)) for j in range(i, len(exprs))
    ]


def fit_ols(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    y: str,
    regressors: list[Regressor],
    *,
    where: str = "TRUE",
    cov_type: CovType = "HC2",
) -> OlsFit:
    """Regress SQL expression `y` on `regressors` over `relation` rows matching `where`.

    The caller includes the intercept as a regressor (`Regressor("const", "1")`). Rows with
    a NULL in y or any regressor are excluded (the complete-case count is `n`).
    """
    p = len(regressors)
    xs = [f"_x{i}" for i in range(p)]
    # Name each regressor once in a subquery so the sums below stay small expressions.
    named = ", ".join(
        [f"CAST({y} AS DOUBLE) AS _y"]
        + [f"CAST({r.sql} AS DOUBLE) AS {x}" for r, x in zip(regressors, xs, strict=True)]
    )
    complete = " AND ".join(f"{c} IS NOT NULL" for c in ["_y", *xs])
    base = (
        f"(SELECT * FROM (SELECT {named} FROM {relation} AS _r WHERE {where}) AS _n "
        f"WHERE {complete}) AS _d"
    )

    pairs = _products(xs)
    select = ["COUNT(*)", "SUM(_y * _y)"]
    select += [f"SUM({prod})" for _, _, prod in pairs]
    select += [f"SUM({x} * _y)" for x in xs]
    row = con.execute(f"SELECT {', '.join(select)} FROM {base}").fetchall()[0]
    n = int(row[0])
    if n <= p:
        raise ValueError(f"regression needs more rows than regressors ({n} rows, {p} regressors)")
    yy = float(row[1])
    xtx = np.zeros((p, p))
    for (i, j, _), v in zip(pairs, row[2 : 2 + len(pairs)], strict=True):
        xtx[i, j] = xtx[j, i] = float(v)
    xty = np.array([float(v) for v in row[2 + len(pairs) :]])
    if np.linalg.matrix_rank(xtx) < p:
        raise ValueError(
            "regressors are collinear (a covariate is constant or duplicates another): "
            + ", ".join(r.name for r in regressors)
        )
    xtx_inv = np.linalg.inv(xtx)
    beta = xtx_inv @ xty

    fitted = " + ".join(f"{literal(b)} * {x}" for b, x in zip(beta, xs, strict=True))
    weight = f"POWER(_y - ({fitted}), 2)"
    if cov_type in ("HC2", "HC3"):
        leverage = " + ".join(
            f"{literal(xtx_inv[i, j] * (1 if i == j else 2))} * {prod}" for i, j, prod in pairs
        )
        weight += f" / POWER(1 - ({leverage}), {1 if cov_type == 'HC2' else 2})"
    meat_select = [f"SUM(_w * {prod})" for _, _, prod in pairs]
    meat_row = con.execute(
        f"SELECT {', '.join(meat_select)} FROM (SELECT *, {weight} AS _w FROM {base}) AS _m"
    ).fetchall()[0]
    meat = np.zeros((p, p))
    for (i, j, _), v in zip(pairs, meat_row, strict=True):
        meat[i, j] = meat[j, i] = float(v)
    cov = xtx_inv @ meat @ xtx_inv
    if cov_type == "HC1":
        cov *= n / (n - p)

    has_const = regressors[0].sql.strip() == "1"
    means = xtx[0] / n if has_const else np.full(p, np.nan)
    ssr = yy - float(beta @ xty)
    y_mean = xty[0] / n if has_const else 0.0
    tss = yy - n * y_mean**2
    return OlsFit(
        names=tuple(r.name for r in regressors),
        params=beta,
        cov=cov,
        n=n,
        df_resid=n - p,
        r_squared=1 - ssr / tss if tss > 0 else float("nan"),
        cov_type=cov_type,
        means=means,
    )
