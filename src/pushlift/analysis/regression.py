"""Least squares with heteroskedasticity-robust (HC0-HC3) errors from SQL aggregates.

The data never leave the database. Pass 1 sums X'X, X'y and y'y; the coefficients are
solved in Python. Pass 2 sums the sandwich "meat" sum_i w_i e_i^2 x_i x_i', with the
coefficients (and, for HC2/HC3, the inverse of X'X for the leverages) inlined as numeric
literals. Two scans of the table, each returning a p x p matrix, whatever the row count.

HC2 and HC3 divide each squared residual by (1 - leverage). A unit with leverage 1 (an arm
with no more units than the regression has parameters for it, or a category with one
unit) has a zero residual and 0 / 0 weight: those errors are then undefined, and the fit
says so (``cov_undefined``; the covariance is NaN) instead of leaving the unit out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import duckdb
import numpy as np

from pushlift.analysis.sql import literal

CovType = Literal["HC0", "HC1", "HC2", "HC3"]
# A leverage this close to 1 is 1 up to rounding in X'X and its inverse.
LEVERAGE_TOLERANCE = 1e-8


@dataclass(frozen=True)
class Regressor:
    """One column of the design matrix: a display name and a SQL expression."""

    name: str
    sql: str


@dataclass(frozen=True)
class OlsFit:
    """An OLS fit: coefficients, their robust covariance, and fit statistics.

    ``names``, ``params``, ``cov`` and ``means`` cover the regressors used; ``dropped``
    names optional regressors left out as collinear. ``gram`` is X'X of *all* regressors
    given, in their order (the sufficient statistic of the design).
    """

    names: tuple[str, ...]
    params: np.ndarray
    cov: np.ndarray
    n: int
    df_resid: int
    r_squared: float
    cov_type: str
    means: np.ndarray  # column means of the design matrix
    dropped: tuple[str, ...] = ()
    gram: np.ndarray | None = None
    max_leverage: float = float("nan")  # HC2/HC3 only
    cov_undefined: str | None = None  # why the robust covariance does not exist

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


def full_rank(gram: np.ndarray, columns: Sequence[int]) -> bool:
    """Whether the regressors ``columns`` are linearly independent, judged on X'X scaled to
    unit diagonal (so a column's units do not matter)."""
    sub = gram[np.ix_(columns, columns)]
    d = np.sqrt(np.diag(sub))
    if not np.all(d > 0):
        return False
    return int(np.linalg.matrix_rank(sub / np.outer(d, d))) == len(columns)


def independent_columns(
    gram: np.ndarray, optional: Sequence[Sequence[int]]
) -> tuple[list[int], list[int]]:
    """Columns to keep and to drop: every column outside ``optional`` is required; each
    optional group (in order) is kept only if it keeps the design of full rank."""
    p = gram.shape[0]
    in_groups = {i for g in optional for i in g}
    keep = [i for i in range(p) if i not in in_groups]
    dropped: list[int] = []
    for group in optional:
        if full_rank(gram, sorted(keep + list(group))):
            keep = sorted(keep + list(group))
        else:
            dropped += list(group)
    return keep, sorted(dropped)


def fit_ols(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    y: str,
    regressors: list[Regressor],
    *,
    where: str = "TRUE",
    cov_type: CovType = "HC2",
    optional: Sequence[Sequence[int]] = (),
) -> OlsFit:
    """Regress SQL expression `y` on `regressors` over `relation` rows matching `where`.

    The caller includes the intercept as a regressor (`Regressor("const", "1")`). Rows with
    a NULL in y or any regressor are excluded (the complete-case count is `n`).
    `optional` lists groups of regressor positions that may be left out: a group that
    would make the design collinear (a constant or duplicated covariate) is dropped and
    named in `dropped`; collinear required regressors raise ValueError.
    """
    regressors_all = list(regressors)
    p_all = len(regressors)
    xs = [f"_x{i}" for i in range(p_all)]
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
    if n <= p_all and not optional:
        raise ValueError(
            f"regression needs more rows than regressors ({n} rows, {p_all} regressors)"
        )
    if n == 0:
        raise ValueError("regression has no complete rows")
    sums = np.array([float(v) for v in row[1:]])
    if not np.all(np.isfinite(sums)):
        raise ValueError("the regression's sums are not finite: y or a regressor holds inf or NaN")
    yy = float(row[1])
    gram = np.zeros((p_all, p_all))
    for (i, j, _), v in zip(pairs, row[2 : 2 + len(pairs)], strict=True):
        gram[i, j] = gram[j, i] = float(v)
    xty_all = np.array([float(v) for v in row[2 + len(pairs) :]])
    keep, drop = independent_columns(gram, optional)
    if not full_rank(gram, keep):
        raise ValueError(
            "regressors are collinear (a covariate is constant or duplicates another): "
            + ", ".join(regressors[i].name for i in keep)
        )
    p = len(keep)
    if n <= p:
        raise ValueError(f"regression needs more rows than regressors ({n} rows, {p} regressors)")
    regressors = [regressors[i] for i in keep]
    xs = [xs[i] for i in keep]
    pairs = _products(xs)
    xtx = gram[np.ix_(keep, keep)]
    xty = xty_all[keep]
    xtx_inv = np.linalg.inv(xtx)
    beta = xtx_inv @ xty

    fitted = " + ".join(f"{literal(b)} * {x}" for b, x in zip(beta, xs, strict=True))
    weight = f"POWER(_y - ({fitted}), 2)"
    leveraged = cov_type in ("HC2", "HC3")
    inner = f"SELECT *, {weight} AS _w FROM {base}"
    extra: list[str] = []
    if leveraged:
        leverage = " + ".join(
            f"{literal(xtx_inv[i, j] * (1 if i == j else 2))} * {prod}" for i, j, prod in pairs
        )
        power = 1 if cov_type == "HC2" else 2
        # Units at leverage 1 contribute 0 here; their count below makes the error undefined.
        inner = (
            f"SELECT *, CASE WHEN _h < {1 - LEVERAGE_TOLERANCE!r} THEN {weight} / "
            f"POWER(1 - _h, {power}) ELSE 0 END AS _w FROM (SELECT *, {leverage} AS _h "
            f"FROM {base}) AS _l"
        )
        extra = ["MAX(_h)", f"COUNT(*) FILTER (WHERE _h >= {1 - LEVERAGE_TOLERANCE!r})"]
    meat_select = [f"SUM(_w * {prod})" for _, _, prod in pairs] + extra
    meat_row = con.execute(f"SELECT {', '.join(meat_select)} FROM ({inner}) AS _m").fetchall()[0]
    meat = np.zeros((p, p))
    for (i, j, _), v in zip(pairs, meat_row[: len(pairs)], strict=True):
        meat[i, j] = meat[j, i] = float(v)
    cov = xtx_inv @ meat @ xtx_inv
    if cov_type == "HC1":
        cov *= n / (n - p)
    max_leverage, undefined = float("nan"), None
    if leveraged:
        max_leverage = float(meat_row[len(pairs)])
        at_one = int(meat_row[len(pairs) + 1])
        if at_one:
            undefined = (
                f"{at_one} unit{'s' if at_one > 1 else ''} at leverage 1 (an arm or covariate "
                f"category with no more units than the regression has parameters for it): the "
                f"{cov_type} error divides by 1 - leverage, so it is undefined"
            )
            cov = np.full((p, p), np.nan)

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
        dropped=tuple(r.name for r in (regressors_all[i] for i in drop)),
        gram=gram,
        max_leverage=max_leverage,
        cov_undefined=undefined,
    )
