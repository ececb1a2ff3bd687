"""Experiment estimators computed only from sufficient statistics.

Every test here consumes small frozen summaries (counts, sums, sums of squares and
cross-products) rather than raw rows, so results can be computed from an aggregate SQL
query. The formulas follow GrowthBook's gbstats engine; conventions:

* ``a`` is the control arm and ``b`` the treatment arm.
* ``SampleMean.variance`` uses the ``n - 1`` denominator; ``Proportion.variance`` is
  ``p (1 - p)`` with no small-sample correction.
* A relative effect is ``(mean_b - mean_a) / |mean_a|`` with a delta-method variance.
* As in gbstats, an arm with zero variance is an error by default. With
  ``allow_constant_arm=True`` an arm whose units all have the same value (zero variance,
  or a proportion of 0% or 100%) is fine as long as the other arm varies: the effect's
  variance is then the other arm's alone (what scipy's and statsmodels' Welch tests give).
  Then only both arms constant, an arm with fewer than 2 units, a ratio's denominator
  summing to zero, a zero baseline (relative effects) or sums that are not finite leave
  no estimate.
* Data problems never raise: the result carries ``error`` ("CODE: why") and, as gbstats
  does, placeholder figures (estimate 0, interval (0, 0), p-value 1). Those placeholders are
  not estimates: :func:`as_reported` replaces them by NaN before anything is shown, and
  :func:`no_estimate_reason` gives the reason in words.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from scipy import stats as sps
from scipy.optimize import brentq

Alternative = Literal["two-sided", "greater", "less"]

ZERO_NEGATIVE_VARIANCE_MESSAGE = (
    "ZERO_NEGATIVE_VARIANCE: an arm has zero variance (every unit has the same value)"
)
BOTH_CONSTANT_MESSAGE = (
    "ZERO_NEGATIVE_VARIANCE: every unit in both arms has the same value, so the difference "
    "has no standard error"
)
NEGATIVE_VARIANCE_MESSAGE = (
    "ZERO_NEGATIVE_VARIANCE: an arm's sums give a negative variance (inconsistent sums)"
)
ANOVA_ZERO_VARIANCE_MESSAGE = (
    "ZERO_NEGATIVE_VARIANCE: an arm has zero variance, and Welch's ANOVA weights each arm by "
    "n / variance"
)
BASELINE_ZERO_MESSAGE = "BASELINE_VARIATION_ZERO: the control mean is zero, so no relative effect"
TOO_FEW_UNITS_MESSAGE = "TOO_FEW_UNITS: an arm has fewer than 2 units"
MIXED_TYPES_MESSAGE = "MIXED_STATISTICS: both arms must use the same kind of statistic"
DENOMINATOR_ZERO_MESSAGE = (
    "DENOMINATOR_ZERO: the ratio's denominator sums to zero in an arm, so the ratio is undefined"
)
NON_FINITE_MESSAGE = "NON_FINITE: an arm's sums are infinite or NaN (the data hold inf or NaN)"
UNBOUNDED_RATIO_MESSAGE = (
    "UNBOUNDED_RATIO: the control mean cannot be told from zero at this confidence, so the "
    "relative change has no bounded interval (Fieller)"
)

# A variance smaller than this share of the mean square is rounding in the sums, not
# spread: sums of squares of constant data cancel only to about n x 1e-16.
CANCELLATION = 1e-10


def _snap(value: float, scale: float) -> float:
    """``value`` with rounding noise around zero (relative to ``scale``) set to exactly 0."""
    return 0.0 if abs(value) <= CANCELLATION * abs(scale) else value


# ---------------------------------------------------------------------------
# Sufficient statistics
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SampleMean:
    """Sum and sum of squares of a per-unit metric over ``n`` units."""

    n: int
    sum: float
    sum_squares: float

    @property
    def mean(self) -> float:
        """Sample mean (0 when there are no units)."""
        return self.sum / self.n if self.n > 0 else 0.0

    @property
    def variance(self) -> float:
        """Unbiased sample variance (0 when ``n <= 1``, which callers treat as unusable)."""
        if self.n <= 1:
            return 0.0
        return _snap(self.sum_squares - self.sum**2 / self.n, self.sum_squares) / (self.n - 1)


@dataclass(frozen=True)
class Proportion:
    """Number of converting units ``sum`` out of ``n``; each unit is 0 or 1."""

    n: int
    sum: float

    @property
    def sum_squares(self) -> float:
        """For 0/1 data the sum of squares equals the sum."""
        return self.sum

    @property
    def mean(self) -> float:
        """Conversion rate (0 when there are no units)."""
        return self.sum / self.n if self.n > 0 else 0.0

    @property
    def variance(self) -> float:
        """Bernoulli variance ``p (1 - p)`` (no ``n - 1`` correction, as in gbstats)."""
        p = self.mean
        return p * (1.0 - p)


def _covariance(
    n: int, x: SampleMean | Proportion, y: SampleMean | Proportion, sum_of_products: float
) -> float:
    """Sample covariance of two per-unit metrics from their sums and cross-product sum."""
    if n <= 1:
        return 0.0
    if isinstance(x, Proportion) and isinstance(y, Proportion):
        # Matches Proportion.variance, which also has no n - 1 correction.
        return sum_of_products / n - x.sum * y.sum / n**2
    return (sum_of_products - x.sum * y.sum / n) / (n - 1)


def variance_of_ratio(
    mean_m: float, var_m: float, mean_d: float, var_d: float, cov_md: float
) -> float:
    """Return the delta-method variance of ``M / D`` given the moments of M and D."""
    return var_m / mean_d**2 - 2.0 * cov_md * mean_m / mean_d**3 + var_d * mean_m**2 / mean_d**4


@dataclass(frozen=True)
class RatioStatistic:
    """Ratio metric ``sum(m) / sum(d)`` over ``n`` randomisation units (e.g. revenue/session)."""

    n: int
    m_sum: float
    m_sum_squares: float
    d_sum: float
    d_sum_squares: float
    m_d_sum_of_products: float

    @property
    def numerator(self) -> SampleMean:
        """Per-unit numerator as a SampleMean."""
        return SampleMean(self.n, self.m_sum, self.m_sum_squares)

    @property
    def denominator(self) -> SampleMean:
        """Per-unit denominator as a SampleMean."""
        return SampleMean(self.n, self.d_sum, self.d_sum_squares)

    @property
    def covariance(self) -> float:
        """Sample covariance of numerator and denominator per unit."""
        return _covariance(self.n, self.numerator, self.denominator, self.m_d_sum_of_products)

    @property
    def mean(self) -> float:
        """The ratio ``m_sum / d_sum`` (0 when the denominator sums to 0)."""
        return self.m_sum / self.d_sum if self.d_sum != 0 else 0.0

    @property
    def variance(self) -> float:
        """Per-unit delta-method variance of the ratio, so that ``variance / n`` is its SE^2."""
        m, d = self.numerator, self.denominator
        if self.n <= 1 or d.mean == 0:
            return 0.0
        v = variance_of_ratio(m.mean, m.variance, d.mean, d.variance, self.covariance)
        # A constant ratio (m proportional to d) cancels to rounding noise.
        return _snap(v, m.variance / d.mean**2 + d.variance * m.mean**2 / d.mean**4)


@dataclass(frozen=True)
class RegressionAdjusted:
    """CUPED statistic: post-period metric adjusted by a pre-period covariate.

    ``theta`` is the regression coefficient; ``None`` means "not chosen yet" and the tests
    then pool it over both arms (see :func:`cuped_theta`). Use :func:`with_theta` (a thin
    wrapper over ``dataclasses.replace``) to fix it explicitly.
    """

    n: int
    post: SampleMean | Proportion
    pre: SampleMean | Proportion
    post_pre_sum_of_products: float
    theta: float | None = None

    def __post_init__(self) -> None:
        if type(self.post) is not type(self.pre):
            raise TypeError("post and pre statistics must be of the same type")

    @property
    def _theta(self) -> float:
        return self.theta if self.theta is not None else 0.0

    @property
    def covariance(self) -> float:
        """Sample covariance of the post metric and the pre-period covariate."""
        return _covariance(self.n, self.post, self.pre, self.post_pre_sum_of_products)

    @property
    def mean(self) -> float:
        """Adjusted mean ``post.mean - theta * pre.mean``."""
        return self.post.mean - self._theta * self.pre.mean

    @property
    def unadjusted_mean(self) -> float:
        """Raw post-period mean; the denominator of relative effects."""
        return self.post.mean

    @property
    def variance(self) -> float:
        """Per-unit variance of ``post - theta * pre``."""
        if self.n <= 1:
            return 0.0
        t = self._theta
        v = self.post.variance + t**2 * self.pre.variance - 2.0 * t * self.covariance
        return _snap(v, self.post.variance + t**2 * self.pre.variance)


Statistic = SampleMean | Proportion | RatioStatistic | RegressionAdjusted


def _unadjusted_mean(stat: Statistic) -> float:
    return stat.unadjusted_mean if isinstance(stat, RegressionAdjusted) else stat.mean


def _pooled(x: SampleMean | Proportion, y: SampleMean | Proportion) -> SampleMean | Proportion:
    if isinstance(x, Proportion) and isinstance(y, Proportion):
        return Proportion(x.n + y.n, x.sum + y.sum)
    return SampleMean(x.n + y.n, x.sum + y.sum, x.sum_squares + y.sum_squares)


def cuped_theta(a: RegressionAdjusted, b: RegressionAdjusted) -> float:
    """Return the CUPED coefficient cov(post, pre) / var(pre) pooled over both arms.

    Pooling (not per-arm thetas) keeps the adjustment identical in both arms, so it cannot
    bias the difference. Returns 0 (no adjustment) when either pooled variance is 0.
    """
    n = a.n + b.n
    post = _pooled(a.post, b.post)
    pre = _pooled(a.pre, b.pre)
    if post.variance == 0 or pre.variance == 0:
        return 0.0
    cov = _covariance(n, post, pre, a.post_pre_sum_of_products + b.post_pre_sum_of_products)
    return cov / pre.variance


def with_theta(stat: RegressionAdjusted, theta: float) -> RegressionAdjusted:
    """Return a copy of ``stat`` with its CUPED coefficient set to ``theta``."""
    return replace(stat, theta=theta)


def prepare_pair(a: Statistic, b: Statistic) -> tuple[Statistic, Statistic]:
    """Return the pair with a pooled CUPED theta filled in when either arm lacks one."""
    if (
        isinstance(a, RegressionAdjusted)
        and isinstance(b, RegressionAdjusted)
        and (a.theta is None or b.theta is None)
    ):
        theta = cuped_theta(a, b)
        return with_theta(a, theta), with_theta(b, theta)
    return a, b


# ---------------------------------------------------------------------------
# Effect moments shared by all tests
# ---------------------------------------------------------------------------


def frequentist_variance(
    var_a: float,
    mean_a: float,
    n_a: float,
    var_b: float,
    mean_b: float,
    n_b: float,
    relative: bool,
) -> float:
    """Return the variance of the estimated effect (absolute difference or relative lift).

    Relative uses the delta method: ``var_b/(mean_a^2 n_b) + var_a mean_b^2/(mean_a^4 n_a)``.
    """
    if relative:
        return variance_of_ratio(mean_b, var_b / n_b, mean_a, var_a / n_a, 0.0)
    return var_b / n_b + var_a / n_a


def _relative_cuped_variance(a: RegressionAdjusted, b: RegressionAdjusted) -> float:
    # Delta method for (adj_b - adj_a) / post_a. Like gbstats, the gradient with respect to
    # the control post mean is taken as -post_b / post_a^2, i.e. it drops the theta*(pre_a -
    # pre_b) term, which is zero in expectation under randomisation.
    base = a.unadjusted_mean
    theta = a._theta
    v_trt = b.variance / (b.n * base**2)
    scale = b.post.mean / a.post.mean
    v_ctrl = (
        a.post.variance * scale**2 - 2.0 * theta * a.covariance * scale + theta**2 * a.pre.variance
    ) / (a.n * base**2)
    return v_trt + v_ctrl


@dataclass(frozen=True)
class EffectMoments:
    """Point estimate and standard error of the effect, or an error explaining why not."""

    estimate: float
    se: float
    error: str | None = None


def _sums(stat: Statistic) -> tuple[float, ...]:
    if isinstance(stat, RatioStatistic):
        return (
            stat.m_sum,
            stat.m_sum_squares,
            stat.d_sum,
            stat.d_sum_squares,
            stat.m_d_sum_of_products,
        )
    if isinstance(stat, RegressionAdjusted):
        return (*_sums(stat.post), *_sums(stat.pre), stat.post_pre_sum_of_products)
    return (stat.sum, stat.sum_squares)


def is_finite(stat: Statistic) -> bool:
    """Whether every sum in ``stat`` is finite (an inf or NaN in the data makes it not)."""
    return all(math.isfinite(v) for v in _sums(stat))


def effect_moments(
    a: Statistic, b: Statistic, *, relative: bool, allow_constant_arm: bool = False
) -> EffectMoments:
    """Return the effect estimate and its standard error for control ``a``, treatment ``b``.

    Expects CUPED thetas to be set already (see :func:`prepare_pair`). With
    ``allow_constant_arm`` one arm of zero variance is allowed: the effect's variance is
    then the other arm's alone; by default (gbstats) it is an error.
    """
    if isinstance(a, RegressionAdjusted) != isinstance(b, RegressionAdjusted) or isinstance(
        a, RatioStatistic
    ) != isinstance(b, RatioStatistic):
        return EffectMoments(0.0, 0.0, MIXED_TYPES_MESSAGE)
    if a.n < 2 or b.n < 2:
        return EffectMoments(0.0, 0.0, TOO_FEW_UNITS_MESSAGE)
    if not (is_finite(a) and is_finite(b)):
        return EffectMoments(0.0, 0.0, NON_FINITE_MESSAGE)
    if isinstance(a, RatioStatistic) and (a.d_sum == 0 or b.d_sum == 0):  # b is a ratio too
        return EffectMoments(0.0, 0.0, DENOMINATOR_ZERO_MESSAGE)
    var_a, var_b = a.variance, b.variance
    if var_a < 0 or var_b < 0:
        return EffectMoments(0.0, 0.0, NEGATIVE_VARIANCE_MESSAGE)
    if var_a == 0 or var_b == 0:
        if not allow_constant_arm:
            return EffectMoments(0.0, 0.0, ZERO_NEGATIVE_VARIANCE_MESSAGE)
        if var_a == 0 and var_b == 0:
            return EffectMoments(0.0, 0.0, BOTH_CONSTANT_MESSAGE)
    base = _unadjusted_mean(a)
    if relative and base == 0:
        return EffectMoments(0.0, 0.0, BASELINE_ZERO_MESSAGE)
    diff = b.mean - a.mean
    if relative and isinstance(a, RegressionAdjusted) and isinstance(b, RegressionAdjusted):
        variance = _relative_cuped_variance(a, b)
    else:
        variance = frequentist_variance(
            a.variance, base, a.n, b.variance, _unadjusted_mean(b), b.n, relative
        )
    if not variance > 0:
        return EffectMoments(0.0, 0.0, ZERO_NEGATIVE_VARIANCE_MESSAGE)
    estimate = diff / abs(base) if relative else diff
    return EffectMoments(estimate, math.sqrt(variance))


def welch_dof(a: Statistic, b: Statistic) -> float:
    """Return the Welch–Satterthwaite degrees of freedom from per-unit variances.

    With one constant arm this is the other arm's ``n - 1``.
    """
    va, vb = a.variance / a.n, b.variance / b.n
    return (va + vb) ** 2 / (va**2 / (a.n - 1) + vb**2 / (b.n - 1))


# ---------------------------------------------------------------------------
# Frequentist tests
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class EffectEstimate:
    """Result of a frequentist test of treatment ``b`` against control ``a``.

    ``dof`` is ``None`` for normal-based (sequential) tests. One-sided intervals have an
    infinite bound. On a data problem, ``error`` is set and the estimate is uninformative
    (estimate 0, interval (0, 0), p-value 1).
    """

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    p_value: float
    dof: float | None
    relative: bool
    alternative: str
    error: str | None = None


def _failed(error: str, relative: bool, alternative: str) -> EffectEstimate:
    return EffectEstimate(0.0, 0.0, 0.0, 0.0, 1.0, None, relative, alternative, error)


def as_reported(e: EffectEstimate) -> EffectEstimate:
    """``e`` as outputs show it: a failed test keeps its reason and loses its placeholders.

    The estimate, standard error, interval and p-value of a failed test become NaN (JSON
    null), so it can neither be read as "no effect, p = 1" nor counted in a
    multiple-testing family.
    """
    if e.error is None:
        return e
    nan = math.nan
    return replace(e, estimate=nan, se=nan, ci_low=nan, ci_high=nan, p_value=nan, dof=None)


def bayesian_as_reported(b: BayesianEstimate) -> BayesianEstimate:
    """``b`` as outputs show it: a failed comparison keeps its reason, its placeholder
    figures (chance 0.5, zero risk) become NaN."""
    if b.error is None:
        return b
    nan = math.nan
    return replace(b, mean=nan, sd=nan, ci_low=nan, ci_high=nan, chance_to_win=nan,
                   risk_control=nan, risk_treatment=nan)  # fmt: skip


def no_estimate_reason(error: str | None) -> str | None:
    """The human part of an error message ("CODE: why" -> "why"); None when no error."""
    if error is None:
        return None
    code, sep, why = error.partition(": ")
    return why if sep and code.replace("_", "").isupper() else error


def _check_alternative(alternative: str) -> None:
    if alternative not in ("two-sided", "greater", "less"):
        raise ValueError(f"alternative must be two-sided, greater or less, not {alternative!r}")


def welch_test(
    a: Statistic,
    b: Statistic,
    *,
    relative: bool,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
    allow_constant_arm: bool = False,
) -> EffectEstimate:
    """Return Welch's unequal-variance t-test of ``b`` vs control ``a``.

    "greater" tests treatment > control. For CUPED statistics without a theta, a pooled
    theta is used; relative CUPED effects divide by the unadjusted control mean.
    ``allow_constant_arm``: one arm with zero variance still gives the estimate (its
    degrees of freedom are then the other arm's n - 1); by default it is an error.
    """
    _check_alternative(alternative)
    a, b = prepare_pair(a, b)
    moments = effect_moments(a, b, relative=relative, allow_constant_arm=allow_constant_arm)
    if moments.error is not None:
        return _failed(moments.error, relative, alternative)
    est, se = moments.estimate, moments.se
    dof = welch_dof(a, b)
    t_stat = est / se
    if alternative == "two-sided":
        width = sps.t.ppf(1 - alpha / 2, dof) * se
        low, high = est - width, est + width
        p = 2 * sps.t.sf(abs(t_stat), dof)
    elif alternative == "greater":
        low, high = est - sps.t.ppf(1 - alpha, dof) * se, math.inf
        p = sps.t.sf(t_stat, dof)
    else:
        low, high = -math.inf, est + sps.t.ppf(1 - alpha, dof) * se
        p = sps.t.cdf(t_stat, dof)
    return EffectEstimate(
        est, se, float(low), float(high), float(p), float(dof), relative, alternative
    )


def fieller_test(
    a: Statistic,
    b: Statistic,
    *,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
    allow_constant_arm: bool = False,
) -> EffectEstimate:
    """Return the relative change of ``b`` against control ``a`` (mean_b / mean_a - 1) with
    Fieller's interval: every ratio r with |mean_b - r mean_a| / sqrt(se_b^2 + r^2 se_a^2)
    inside Welch's critical value. It follows the ratio's skew where the delta method's
    symmetric interval does not (tests/analysis/test_relative_calibration.py compares them),
    and it excludes 0% exactly when the absolute Welch interval excludes 0. Where the control
    mean is not significantly non-zero the set is unbounded: an error, not an interval.
    ``se`` is the delta method's, as in :func:`welch_test`.
    """
    _check_alternative(alternative)
    if isinstance(a, RegressionAdjusted) or isinstance(b, RegressionAdjusted):
        return welch_test(a, b, relative=True, alpha=alpha, alternative=alternative,
                          allow_constant_arm=allow_constant_arm)  # fmt: skip
    moments = effect_moments(a, b, relative=True, allow_constant_arm=allow_constant_arm)
    if moments.error is not None:
        return _failed(moments.error, True, alternative)
    absolute = welch_test(a, b, relative=False, alpha=alpha, alternative=alternative,
                          allow_constant_arm=allow_constant_arm)  # fmt: skip
    dof = welch_dof(a, b)
    crit = sps.t.ppf(1 - alpha / 2 if alternative == "two-sided" else 1 - alpha, dof)
    ma, mb, va, vb = a.mean, b.mean, a.variance / a.n, b.variance / b.n
    # (mb - r ma)^2 = crit^2 (vb + r^2 va): a quadratic in r, bounded when its r^2 term > 0.
    qa, qb, qc = ma * ma - crit * crit * va, -2 * ma * mb, mb * mb - crit * crit * vb
    disc = qb * qb - 4 * qa * qc
    if not qa > 0 or disc < 0:
        return _failed(UNBOUNDED_RATIO_MESSAGE, True, alternative)
    r_low, r_high = sorted(((-qb - math.sqrt(disc)) / (2 * qa), (-qb + math.sqrt(disc)) / (2 * qa)))
    # The change is (mb - ma) / |ma|: r - 1 for a positive control mean, 1 - r for a
    # negative one, so its sign is always the difference's.
    low, high = (r_low - 1, r_high - 1) if ma > 0 else (1 - r_high, 1 - r_low)
    if alternative == "greater":
        high = math.inf
    elif alternative == "less":
        low = -math.inf
    return EffectEstimate(moments.estimate, moments.se, float(low), float(high),
                          absolute.p_value, dof, True, alternative)  # fmt: skip


def sequential_rho(alpha: float, n_star: float, *, two_sided: bool = True) -> float:
    """Return the mixture tuning rho that makes the boundary tightest at ``n_star`` units."""
    # One-sided sequences spend all of alpha on one side, which gbstats encodes as 2*alpha.
    level = alpha if two_sided else 2 * alpha
    return math.sqrt((-2 * math.log(level) + math.log(-2 * math.log(level) + 1)) / n_star)


def sequential_halfwidth(
    se: float, n: float, alpha: float, rho: float, *, two_sided: bool = True
) -> float:
    """Return the half-width of the asymptotic confidence sequence at total sample size ``n``.

    Waudby-Smith et al. (2023, arXiv 2103.06476v7) eq. 9 (two-sided) and its one-sided
    analogue; ``se`` is the usual fixed-horizon standard error of the effect.
    """
    s2 = se**2 * n
    nr2 = n * rho**2 + 1
    k = 2 * nr2 / (n * rho) ** 2
    if two_sided:
        return math.sqrt(s2 * k * math.log(math.sqrt(nr2) / alpha))
    return math.sqrt(s2 * k * math.log1p(math.sqrt(nr2) / (2 * alpha)))


def sequential_test(
    a: Statistic,
    b: Statistic,
    *,
    n_star: float,
    relative: bool,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
    allow_constant_arm: bool = False,
) -> EffectEstimate:
    """Return an always-valid (asymptotic confidence sequence) test of ``b`` vs ``a``.

    ``n_star`` is the total sample size (both arms) at which the sequence is tuned to be
    tightest. Two-sided p-values are ``min(1, 1/e)`` for the mixture e-value; one-sided
    p-values are the smallest alpha whose one-sided sequence excludes 0, solved in closed
    form (gbstats bisects for the same value, clipped to [1e-5, 0.4999]).
    ``allow_constant_arm`` as in :func:`welch_test`.
    """
    _check_alternative(alternative)
    if alternative != "two-sided" and not 0 < alpha < 0.5:
        # rho uses log(2 alpha), which needs 2 alpha < 1.
        return _failed("one-sided sequential tests need 0 < alpha < 0.5", relative, alternative)
    a, b = prepare_pair(a, b)
    moments = effect_moments(a, b, relative=relative, allow_constant_arm=allow_constant_arm)
    if moments.error is not None:
        return _failed(moments.error, relative, alternative)
    est, se = moments.estimate, moments.se
    n = a.n + b.n
    two_sided = alternative == "two-sided"
    rho = sequential_rho(alpha, n_star, two_sided=two_sided)
    half = sequential_halfwidth(se, n, alpha, rho, two_sided=two_sided)
    nr2 = n * rho**2 + 1
    if two_sided:
        z2 = (est / se) ** 2
        log_e = rho**2 * n * z2 / (2 * nr2) - 0.5 * math.log(nr2)
        p = min(1.0, math.exp(-log_e))
        return EffectEstimate(est, se, est - half, est + half, p, None, relative, alternative)
    signed = est if alternative == "greater" else -est
    if signed <= 0:
        p = 1.0
    else:
        # Solve halfwidth(alpha') = |est| for alpha' with rho held fixed.
        k = 2 * nr2 / (n * rho) ** 2
        x = signed**2 / (se**2 * n * k)
        p = min(1.0, math.sqrt(nr2) / (2 * math.expm1(x)))
    if alternative == "greater":
        return EffectEstimate(est, se, est - half, math.inf, p, None, relative, alternative)
    return EffectEstimate(est, se, -math.inf, est + half, p, None, relative, alternative)


# ---------------------------------------------------------------------------
# Bayesian test
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class GaussianPrior:
    """Normal prior on the effect (on the same scale: relative lift or absolute difference).

    ``proper=False`` means a flat prior, so the posterior is the likelihood alone.
    """

    mean: float = 0.0
    variance: float = 1.0
    proper: bool = False

    def __post_init__(self) -> None:
        if self.proper and not self.variance > 0:
            raise ValueError("a proper Gaussian prior needs a positive variance")


@dataclass(frozen=True)
class BayesianEstimate:
    """Normal posterior of the effect with decision summaries.

    ``risk_control`` is the expected loss of shipping control, E[max(effect, 0)];
    ``risk_treatment`` that of shipping treatment, E[max(-effect, 0)] (both flipped for
    inverse metrics). On a data problem ``error`` is set, chance_to_win is 0.5 and all
    other figures are 0.
    """

    mean: float
    sd: float
    ci_low: float
    ci_high: float
    chance_to_win: float
    risk_control: float
    risk_treatment: float
    error: str | None = None


@dataclass(frozen=True)
class NormalRisk:
    """Expected positive and negative parts of a normal variable."""

    positive: float  # E[max(X, 0)]
    negative: float  # E[max(-X, 0)]


def normal_risk(mu: float, sigma: float) -> NormalRisk:
    """Return E[max(X, 0)] and E[max(-X, 0)] for X ~ N(mu, sigma^2)."""
    z = mu / sigma
    pdf = float(sps.norm.pdf(z))
    # Each side uses its own tail probability, avoiding 1 - cdf cancellation.
    pos = mu * float(sps.norm.cdf(z)) + sigma * pdf
    neg = -mu * float(sps.norm.sf(z)) + sigma * pdf
    return NormalRisk(max(pos, 0.0), max(neg, 0.0))


def bayesian_test(
    a: Statistic,
    b: Statistic,
    *,
    relative: bool = True,
    prior: GaussianPrior | None = None,
    alpha: float = 0.05,
    inverse: bool = False,
) -> BayesianEstimate:
    """Return the normal-approximation Bayesian comparison of ``b`` vs control ``a``.

    The likelihood is N(estimate, se^2) from :func:`effect_moments`; a proper Gaussian
    prior is combined by precision weighting. ``inverse=True`` is for metrics where lower is
    better: chance to win becomes P(effect < 0) and the risks swap.
    """
    a, b = prepare_pair(a, b)
    moments = effect_moments(a, b, relative=relative)
    if moments.error is not None:
        return BayesianEstimate(0.0, 0.0, 0.0, 0.0, 0.5, 0.0, 0.0, moments.error)
    precision = 1.0 / moments.se**2
    weighted = moments.estimate * precision
    if prior is not None and prior.proper:
        precision += 1.0 / prior.variance
        weighted += prior.mean / prior.variance
    mean = weighted / precision
    sd = math.sqrt(1.0 / precision)
    low, high = sps.norm.ppf([alpha / 2, 1 - alpha / 2], mean, sd)
    # For inverse metrics a win is a negative effect; cdf avoids computing 1 - sf.
    ctw = float(sps.norm.cdf(0.0, mean, sd) if inverse else sps.norm.sf(0.0, mean, sd))
    risk = normal_risk(mean, sd)
    risk_control, risk_treatment = risk.positive, risk.negative
    if inverse:
        risk_control, risk_treatment = risk_treatment, risk_control
    return BayesianEstimate(mean, sd, float(low), float(high), ctw, risk_control, risk_treatment)


# ---------------------------------------------------------------------------
# Power and minimum detectable effect (design-time, from assumed moments)
# ---------------------------------------------------------------------------


def _sequential_se_inflation(n: float, alpha: float, n_star: float) -> float:
    """Return halfwidth / (z* se): how much wider a confidence sequence is at ``n`` units."""
    rho = sequential_rho(alpha, n_star)
    z_seq = sequential_halfwidth(1.0, n, alpha, rho)
    return z_seq / float(sps.norm.ppf(1 - alpha / 2))


def power_standard_error(
    effect: float,
    mean: float,
    variance: float,
    n_total: float,
    n_variations: int = 2,
    *,
    relative: bool = True,
    alpha: float = 0.05,
    n_star: float | None = None,
) -> float:
    """Return the SE of one treatment-vs-control effect when ``n_total`` splits evenly.

    The treatment mean is ``mean (1 + effect)`` (relative) or ``mean + effect`` (absolute).
    With ``n_star`` the SE is inflated so that z* x SE equals the confidence-sequence width.
    """
    n_arm = n_total / n_variations
    mean_b = mean * (1 + effect) if relative else mean + effect
    se = math.sqrt(frequentist_variance(variance, mean, n_arm, variance, mean_b, n_arm, relative))
    if n_star is not None:
        se *= _sequential_se_inflation(2 * n_arm, alpha, n_star)
    return se


def power(
    effect: float,
    mean: float,
    variance: float,
    n_total: float,
    n_variations: int = 2,
    *,
    relative: bool = True,
    alpha: float = 0.05,
    two_tailed: bool = True,
    n_star: float | None = None,
) -> float:
    """Return the probability of a significant result for one treatment arm vs control.

    ``n_total`` units are split evenly over ``n_variations`` arms (control included); no
    multiplicity correction is applied. ``n_star`` switches to a sequential test.
    """
    z_star = float(sps.norm.ppf(1 - alpha / 2 if two_tailed else 1 - alpha))
    se = power_standard_error(
        effect,
        mean,
        variance,
        n_total,
        n_variations,
        relative=relative,
        alpha=alpha,
        n_star=n_star,
    )
    standardized = effect / se
    result = float(sps.norm.sf(z_star - standardized))
    if two_tailed:
        result += float(sps.norm.cdf(-z_star - standardized))
    return result


@dataclass(frozen=True)
class MdeResult:
    """Minimum detectable effect; ``mde`` is None and ``error`` says why when none exists."""

    mde: float | None
    error: str | None = None


def minimum_detectable_effect(
    target_power: float,
    mean: float,
    variance: float,
    n_total: float,
    n_variations: int = 2,
    *,
    relative: bool = True,
    alpha: float = 0.05,
    two_tailed: bool = True,
    n_star: float | None = None,
    arm_sizes: tuple[float, float] | None = None,
) -> MdeResult:
    """Return the smallest positive effect detected with ``target_power`` (one-tail approx).

    Solves ``effect = (z_{alpha} + z_{power}) * SE(effect)`` where, for relative effects,
    SE depends on the effect through the treatment mean (a quadratic in the treatment mean).
    Both arms are assumed to have ``variance``. ``arm_sizes`` (control, treatment) replaces
    the even split of ``n_total`` over ``n_variations`` by the real sizes of the two arms.
    """
    if not alpha < target_power < 1:
        return MdeResult(None, "target power must be between alpha and 1")
    n_a, n_b = arm_sizes if arm_sizes is not None else (n_total / n_variations,) * 2
    if not (n_a > 0 and n_b > 0):
        return MdeResult(None, "each arm needs units for any MDE to exist")
    z = float(sps.norm.ppf(1 - alpha / 2 if two_tailed else 1 - alpha)) - float(
        sps.norm.ppf(1 - target_power)
    )
    v = variance
    if n_star is not None:
        v *= _sequential_se_inflation(n_a + n_b, alpha, n_star) ** 2
    sigma2_a, sigma2_b = v / n_a, v / n_b
    if not relative:
        return MdeResult(z * math.sqrt(sigma2_a + sigma2_b))
    if mean == 0:
        return MdeResult(None, "a relative MDE needs a non-zero mean")
    if n_a <= v * z**2 / mean**2:
        return MdeResult(
            None,
            "the control mean is too close to zero for its noise: need more units (or fewer "
            "variations) for any relative MDE to exist",
        )
    # (m_b - m)^2 = z^2 (sigma2_b + sigma2_a m_b^2 / m^2), solved for the larger root m_b.
    qa = 1 - z**2 * sigma2_a / mean**2
    qb = -2 * mean
    qc = mean**2 - z**2 * sigma2_b
    mean_b = (-qb + math.sqrt(qb**2 - 4 * qa * qc)) / (2 * qa)
    return MdeResult((mean_b - mean) / abs(mean))


# ---------------------------------------------------------------------------
# Mid-experiment power (from the data collected so far)
# ---------------------------------------------------------------------------


def mid_experiment_power(
    a: Statistic,
    b: Statistic,
    *,
    target_mde: float,
    scaling_factor: float,
    relative: bool = True,
    alpha: float = 0.05,
    num_tests: int = 1,
    prior: GaussianPrior | None = None,
    n_star: float | None = None,
) -> float:
    """Return the power to detect ``target_mde`` after ``scaling_factor`` x more units.

    The effect variance observed so far shrinks by ``1 + scaling_factor``. ``num_tests``
    Bonferroni-corrects alpha; a proper ``prior`` makes it the power of the Bayesian
    "credible interval excludes 0" rule; ``n_star`` that of the sequential test.
    Returns NaN when the current data give no usable effect variance.
    """
    a, b = prepare_pair(a, b)
    moments = effect_moments(a, b, relative=relative)
    if moments.error is not None:
        return math.nan
    mde = abs(target_mde)
    var_now = moments.se**2
    var_then = var_now / (1 + scaling_factor)
    sd_then = math.sqrt(var_then)
    level = alpha / num_tests
    z = float(sps.norm.ppf(1 - level / 2))
    if prior is not None and prior.proper:
        # Reject when the posterior interval excludes 0; thresholds on the estimate scale.
        precision = 1 / prior.variance + 1 / var_then
        shrink = var_then * math.sqrt(precision) * z
        shift = var_then * prior.mean / prior.variance
        upper, lower = shrink - shift, -(shrink + shift)
    else:
        if n_star is not None:
            # The confidence sequence evaluated at the future total sample size.
            n_then = (a.n + b.n) * (1 + scaling_factor)
            rho = sequential_rho(level, n_star)
            half = sequential_halfwidth(sd_then, n_then, level, rho)
        else:
            half = z * sd_then
        upper, lower = half, -half
    return float(sps.norm.sf((upper - mde) / sd_then) + sps.norm.cdf((lower - mde) / sd_then))


@dataclass(frozen=True)
class SampleSizeResult:
    """Extra units needed: ``scaling_factor`` x the units so far (``additional_units``).

    ``scaling_factor`` is 0 when already powered and None (with ``error``) when no factor
    up to ``max_scaling_factor`` reaches the target power.
    """

    scaling_factor: float | None
    additional_units: float | None
    power_now: float
    error: str | None = None


def additional_sample_needed(
    a: Statistic,
    b: Statistic,
    *,
    target_mde: float,
    target_power: float = 0.8,
    relative: bool = True,
    alpha: float = 0.05,
    num_goal_metrics: int = 1,
    num_variations: int = 2,
    prior: GaussianPrior | None = None,
    n_star: float | None = None,
    max_scaling_factor: float = 2.0**27,
) -> SampleSizeResult:
    """Return how many more units (as a multiple of those so far) reach ``target_power``.

    Alpha is Bonferroni-split over (variations - 1) x goal metrics and the power target
    raised to 1 / goal metrics, as in gbstats. The factor is the exact root of
    power(factor) = target (gbstats reports a bisection approximation of it).
    """
    num_tests = (num_variations - 1) * num_goal_metrics
    goal = target_power ** (1 / num_goal_metrics)

    def power_at(factor: float) -> float:
        return mid_experiment_power(
            a,
            b,
            target_mde=target_mde,
            scaling_factor=factor,
            relative=relative,
            alpha=alpha,
            num_tests=num_tests,
            prior=prior,
            n_star=n_star,
        )

    now = power_at(0.0)
    if math.isnan(now):
        a2, b2 = prepare_pair(a, b)
        error = effect_moments(a2, b2, relative=relative).error
        return SampleSizeResult(None, None, now, error)
    if now >= goal:
        return SampleSizeResult(0.0, 0.0, now)
    upper = 1.0
    while power_at(upper) < goal:
        upper *= 2
        if upper > max_scaling_factor:
            return SampleSizeResult(None, None, now, "target power not reachable")
    factor = float(brentq(lambda f: power_at(f) - goal, 0.0, upper, xtol=1e-10, rtol=1e-12))
    return SampleSizeResult(factor, factor * (a.n + b.n), now)


# ---------------------------------------------------------------------------
# Multiple testing, SRM, omnibus ANOVA
# ---------------------------------------------------------------------------


def holm(p_values: Sequence[float]) -> list[float]:
    """Return Holm–Bonferroni adjusted p-values in input order."""
    p = np.asarray(p_values, dtype=float)
    m = p.size
    if m == 0:
        return []
    order = np.argsort(p, kind="stable")
    stepped = np.maximum.accumulate((m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted.tolist()


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Return Benjamini–Hochberg (FDR) adjusted p-values in input order."""
    p = np.asarray(p_values, dtype=float)
    m = p.size
    if m == 0:
        return []
    order = np.argsort(p, kind="stable")
    scaled = p[order] * m / np.arange(1, m + 1)
    # Step-up: each adjusted value is the minimum over itself and all larger p-values.
    stepped = np.minimum.accumulate(scaled[::-1])[::-1]
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted.tolist()


@dataclass(frozen=True)
class SrmResult:
    """Pearson chi-square test of observed arm sizes against the configured split."""

    chi2: float
    dof: int
    p_value: float


def srm_test(counts: Sequence[int], weights: Sequence[float] | None = None) -> SrmResult:
    """Return the sample-ratio-mismatch chi-square test (df = arms - 1).

    ``weights`` are the configured traffic shares (any positive scale); equal by default.
    No units at all gives chi2 0 and p-value 1.
    """
    obs = np.asarray(counts, dtype=float)
    w = np.ones_like(obs) if weights is None else np.asarray(weights, dtype=float)
    if obs.size < 2 or w.shape != obs.shape:
        raise ValueError("need at least two arms and one weight per arm")
    if np.any(obs < 0) or np.any(w <= 0):
        raise ValueError("counts must be non-negative and weights positive")
    dof = obs.size - 1
    total = obs.sum()
    if total == 0:
        return SrmResult(0.0, dof, 1.0)
    expected = w / w.sum() * total
    chi2 = float(np.sum((obs - expected) ** 2 / expected))
    return SrmResult(chi2, dof, float(sps.chi2.sf(chi2, dof)))


@dataclass(frozen=True)
class AnovaResult:
    """Welch's heteroskedastic one-way ANOVA: F statistic, its dofs and p-value."""

    statistic: float
    df_num: float
    df_den: float
    p_value: float
    error: str | None = None


def welch_anova(stats: Sequence[SampleMean | Proportion]) -> AnovaResult:
    """Return Welch's one-way ANOVA of "all arm means are equal" from sufficient stats.

    Arms are weighted by n / variance, so unequal variances are allowed. Proportions use
    p (1 - p) as their variance. On a data problem the result has F 0, p 1 and ``error``.
    """
    k = len(stats)
    if k < 2:
        raise ValueError("welch_anova needs at least two arms")
    n = np.array([s.n for s in stats], dtype=float)
    if np.any(n < 2):
        return AnovaResult(0.0, k - 1.0, math.nan, 1.0, TOO_FEW_UNITS_MESSAGE)
    if not all(is_finite(s) for s in stats):
        return AnovaResult(0.0, k - 1.0, math.nan, 1.0, NON_FINITE_MESSAGE)
    means = np.array([s.mean for s in stats], dtype=float)
    var = np.array([s.variance for s in stats], dtype=float)
    if np.any(var < 0):
        return AnovaResult(0.0, k - 1.0, math.nan, 1.0, NEGATIVE_VARIANCE_MESSAGE)
    if np.any(var == 0):
        return AnovaResult(0.0, k - 1.0, math.nan, 1.0, ANOVA_ZERO_VARIANCE_MESSAGE)
    w = n / var
    total_w = w.sum()
    grand = float(np.sum(w * means) / total_w)
    between = float(np.sum(w * (means - grand) ** 2)) / (k - 1)
    h = float(np.sum((1 - w / total_w) ** 2 / (n - 1)))
    f_stat = between / (1 + 2 * (k - 2) / (k**2 - 1) * h)
    df_num = k - 1.0
    df_den = (k**2 - 1) / (3 * h) if h > 0 else math.inf
    return AnovaResult(f_stat, df_num, df_den, float(sps.f.sf(f_stat, df_num, df_den)))
