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
# Outcomes per pair of scans: wider queries cost DuckDB more memory than they save time
# (300 outcomes in one: about 1 GB for 4,000 rows).
MANY_PER_SCAN = 25
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
    fit = fit_ols_many(
        con, relation, [y], regressors, where=where, cov_type=cov_type, optional=optional
    )[0]
    if isinstance(fit, ValueError):
        raise fit
    return fit


def fit_ols_many(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    ys: Sequence[str],
    regressors: list[Regressor],
    *,
    where: str = "TRUE",
    cov_type: CovType = "HC2",
    optional: Sequence[Sequence[int]] = (),
) -> list[OlsFit | ValueError]:
    """`fit_ols` for each of `ys` on the same regressors: per y its fit, or the ValueError
    `fit_ols` raises. Up to MANY_PER_SCAN outcomes given on every row with complete
    regressors share two scans (one design, one leverage); an outcome with missing values
    is fitted on its own rows."""
    if len(ys) > MANY_PER_SCAN:
        return [
            fit
            for lo in range(0, len(ys), MANY_PER_SCAN)
            for fit in fit_ols_many(
                con, relation, ys[lo : lo + MANY_PER_SCAN], regressors, where=where,
                cov_type=cov_type, optional=optional,
            )
        ]  # fmt: skip
    xs = [f"_x{i}" for i in range(len(regressors))]
    named = ", ".join(
        [f"CAST({y} AS DOUBLE) AS _y{k}" for k, y in enumerate(ys)]
        + [f"CAST({r.sql} AS DOUBLE) AS {x}" for r, x in zip(regressors, xs, strict=True)]
    )
    complete = " AND ".join(f"{x} IS NOT NULL" for x in xs)
    # Name each column once in a subquery so the sums below stay small expressions.
    base = (
        f"(SELECT * FROM (SELECT {named} FROM {relation} AS _r WHERE {where}) AS _n "
        f"WHERE {complete}) AS _d"
    )
    pairs = _products(xs)
    select = ["COUNT(*)", *(f"SUM({prod})" for _, _, prod in pairs)]
    for k in range(len(ys)):
        select += [f"COUNT(_y{k})", f"SUM(_y{k} * _y{k})", *(f"SUM({x} * _y{k})" for x in xs)]
    row = con.execute(f"SELECT {', '.join(select)} FROM {base}").fetchall()[0]
    n = int(row[0])
    gram = np.zeros((len(xs), len(xs)))
    for (i, j, _), v in zip(pairs, row[1 : 1 + len(pairs)], strict=True):
        gram[i, j] = gram[j, i] = float(v) if v is not None else 0.0
    out: list[OlsFit | ValueError | None] = [None] * len(ys)
    shared: dict[int, _Solved] = {}
    width = 2 + len(xs)
    for k, y in enumerate(ys):
        given, yy, *xty = row[1 + len(pairs) + k * width : 1 + len(pairs) + (k + 1) * width]
        if int(given) < n:  # missing values: its own rows, its own design
            own = f"({where}) AND ({y}) IS NOT NULL"
            out[k] = fit_ols_many(
                con, relation, [y], regressors, where=own, cov_type=cov_type, optional=optional
            )[0]
            continue
        solved = _solve(n, gram, yy, xty, regressors, optional)
        if isinstance(solved, ValueError):
            out[k] = solved
        else:
            shared[k] = solved
    if shared:
        meats = _meats(con, base, shared, cov_type)
        for k, solved in shared.items():
            out[k] = _finish(solved, *meats[k], cov_type)
    return [fit for fit in out if fit is not None]


@dataclass(frozen=True)
class _Solved:
    """Pass 1 done for one outcome: the columns kept and the coefficients."""

    n: int
    gram: np.ndarray
    keep: list[int]
    drop: list[int]
    regressors: list[Regressor]  # all given
    xtx_inv: np.ndarray
    xty: np.ndarray
    beta: np.ndarray
    yy: float


def _solve(
    n: int,
    gram: np.ndarray,
    yy: object,
    xty_all: list[object],
    regressors: list[Regressor],
    optional: Sequence[Sequence[int]],
) -> _Solved | ValueError:
    p_all = len(regressors)
    if n <= p_all and not optional:
        return ValueError(
            f"regression needs more rows than regressors ({n} rows, {p_all} regressors)"
        )
    if n == 0:
        return ValueError("regression has no complete rows")
    sums = np.array([float(v) for v in (yy, *xty_all)] + gram.ravel().tolist())
    if not np.all(np.isfinite(sums)):
        return ValueError("the regression's sums are not finite: y or a regressor holds inf or NaN")
    keep, drop = independent_columns(gram, optional)
    if not full_rank(gram, keep):
        return ValueError(
            "regressors are collinear (a covariate is constant or duplicates another): "
            + ", ".join(regressors[i].name for i in keep)
        )
    p = len(keep)
    if n <= p:
        return ValueError(f"regression needs more rows than regressors ({n} rows, {p} regressors)")
    xtx_inv = np.linalg.inv(gram[np.ix_(keep, keep)])
    xty = np.array([float(v) for v in xty_all])[keep]
    return _Solved(n, gram, keep, drop, regressors, xtx_inv, xty, xtx_inv @ xty, float(yy))


def _meats(
    con: duckdb.DuckDBPyConnection, base: str, shared: dict[int, _Solved], cov_type: str
) -> dict[int, tuple[np.ndarray, float, int]]:
    """Pass 2 for outcomes sharing rows and design: per outcome the sandwich meat
    sum_i w_i e_i^2 x_i x_i', and (HC2/HC3) the largest leverage and the units at 1."""
    first = next(iter(shared.values()))  # one design: the same columns and X'X for all
    xs = [f"_x{i}" for i in first.keep]
    pairs = _products(xs)
    leveraged = cov_type in ("HC2", "HC3")

    def fitted(solved: _Solved) -> str:
        return " + ".join(f"{literal(b)} * {x}" for b, x in zip(solved.beta, xs, strict=True))

    residuals = ", ".join(f"POWER(_y{k} - ({fitted(s)}), 2) AS _e{k}" for k, s in shared.items())
    inner = f"SELECT *, {residuals} FROM {base}"
    extra: list[str] = []
    if leveraged:
        inv = first.xtx_inv
        leverage = " + ".join(
            f"{literal(inv[i, j] * (1 if i == j else 2))} * {prod}" for i, j, prod in pairs
        )
        power = 1 if cov_type == "HC2" else 2
        inner = f"SELECT *, {residuals} FROM (SELECT *, {leverage} AS _h FROM {base}) AS _l"
        # Units at leverage 1 contribute 0 here; their count below makes the error undefined.
        weight = "CASE WHEN _h < {tol!r} THEN _e{k} / POWER(1 - _h, {power}) ELSE 0 END"
        weights = ", ".join(
            weight.format(tol=1 - LEVERAGE_TOLERANCE, k=k, power=power) + f" AS _w{k}"
            for k in shared
        )
        inner = f"SELECT *, {weights} FROM ({inner}) AS _v"
        extra = ["MAX(_h)", f"COUNT(*) FILTER (WHERE _h >= {1 - LEVERAGE_TOLERANCE!r})"]
    else:
        inner = f"SELECT *, {', '.join(f'_e{k} AS _w{k}' for k in shared)} FROM ({inner}) AS _v"
    select = [f"SUM(_w{k} * {prod})" for k in shared for _, _, prod in pairs] + extra
    row = con.execute(f"SELECT {', '.join(select)} FROM ({inner}) AS _m").fetchall()[0]
    p = len(xs)
    out = {}
    for n_th, k in enumerate(shared):
        meat = np.zeros((p, p))
        values = row[n_th * len(pairs) : (n_th + 1) * len(pairs)]
        for (i, j, _), v in zip(pairs, values, strict=True):
            meat[i, j] = meat[j, i] = float(v)
        max_leverage = float(row[-2]) if leveraged else float("nan")
        at_one = int(row[-1]) if leveraged else 0
        out[k] = (meat, max_leverage, at_one)
    return out


def _finish(
    solved: _Solved, meat: np.ndarray, max_leverage: float, at_one: int, cov_type: str
) -> OlsFit:
    n, keep, p = solved.n, solved.keep, len(solved.keep)
    regressors = [solved.regressors[i] for i in keep]
    cov = solved.xtx_inv @ meat @ solved.xtx_inv
    if cov_type == "HC1":
        cov *= n / (n - p)
    undefined = None
    if at_one:
        undefined = (
            f"{at_one} unit{'s' if at_one > 1 else ''} at leverage 1 (an arm or covariate "
            f"category with no more units than the regression has parameters for it): the "
            f"{cov_type} error divides by 1 - leverage, so it is undefined"
        )
        cov = np.full((p, p), np.nan)
    xtx = solved.gram[np.ix_(keep, keep)]
    has_const = regressors[0].sql.strip() == "1"
    means = xtx[0] / n if has_const else np.full(p, np.nan)
    ssr = solved.yy - float(solved.beta @ solved.xty)
    y_mean = solved.xty[0] / n if has_const else 0.0
    tss = solved.yy - n * y_mean**2
    return OlsFit(
        names=tuple(r.name for r in regressors),
        params=solved.beta,
        cov=cov,
        n=n,
        df_resid=n - p,
        r_squared=1 - ssr / tss if tss > 0 else float("nan"),
        cov_type=cov_type,
        means=means,
        dropped=tuple(solved.regressors[i].name for i in solved.drop),
        gram=solved.gram,
        max_leverage=max_leverage,
        cov_undefined=undefined,
    )
