"""The results of an experiment analysis: frozen records with named fields.

`to_jsonable` turns any of them into plain JSON types (non-finite numbers become null).

A record never shows a figure that is not an estimate. Where a test failed (both arms
constant, an arm with fewer than 2 units, a zero ratio denominator, ...) its estimate,
interval and p-value are NaN (null in JSON), and `no_estimate_reason` says why in words;
such a row has no p-value, so it stays out of every Holm/BH family.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pushlift.analysis.stats import (
    BayesianEstimate,
    EffectEstimate,
    GaussianPrior,
    as_reported,
    bayesian_as_reported,
    no_estimate_reason,
)
from pushlift.analysis.winsorize import Cap


def _report(record: object, *names: str) -> None:
    """Replace failed estimates in ``record`` (frozen) by their reported form (NaN + reason)."""
    for name in names:
        object.__setattr__(record, name, as_reported(getattr(record, name)))


@dataclass(frozen=True)
class ArmOutcome:
    """One outcome in one arm."""

    arm: str
    n: int
    mean: float
    sd: float  # per-unit standard deviation (delta-method for ratios)


@dataclass(frozen=True)
class AdjustedEffect:
    """Regression-adjusted (fully interacted, Lin 2013) effect with robust errors.

    ``covariates`` are those the regression used; ``dropped`` those left out (constant in
    an arm, or collinear with the others), each explained in ``notes``. When no adjusted
    estimate exists (no usable covariate, or an HC2/HC3 error undefined at leverage 1),
    ``effect`` carries NaN and ``no_estimate_reason`` says why.
    """

    effect: EffectEstimate
    n: int
    cov_type: str
    covariates: tuple[str, ...]
    ci_narrowing: float  # 1 - adjusted CI width / unadjusted CI width
    r_squared: float
    dropped: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    n_control: int | None = None
    n_treatment: int | None = None
    no_estimate_reason: str | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        _report(self, "effect")
        object.__setattr__(self, "no_estimate_reason", no_estimate_reason(self.effect.error))


@dataclass(frozen=True)
class AlwaysValid:
    """With --sequential: the comparison as an always-valid test, so the experiment may be
    looked at as often as wanted without raising the false-positive rate. An asymptotic
    confidence sequence (Waudby-Smith et al. 2023; gbstats' sequential test), tuned to be
    tightest at `tuning` units in the two arms together, on the unadjusted difference and
    relative lift; its p-values are not multiplicity-adjusted."""

    tuning: int
    absolute: EffectEstimate
    relative: EffectEstimate
    no_estimate_reason: str | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        _report(self, "absolute", "relative")
        object.__setattr__(self, "no_estimate_reason", no_estimate_reason(self.absolute.error))


@dataclass(frozen=True)
class Comparison:
    """One treatment arm against control for one outcome."""

    outcome: str
    arm: str
    control: str
    absolute: EffectEstimate
    relative: EffectEstimate
    adjusted: AdjustedEffect | None
    p_holm: float
    p_bh: float
    true_effect: float | None  # known only for simulations
    # Small-sample flags (see effects.sample_size_warnings): the interval may be too narrow.
    warnings: tuple[str, ...] = ()
    # With --bayesian: the posterior of the relative lift under `bayesian_prior`.
    bayesian: BayesianEstimate | None = None
    bayesian_prior: GaussianPrior | None = None
    sequential: AlwaysValid | None = None
    no_estimate_reason: str | None = field(init=False, default=None)
    relative_no_estimate_reason: str | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        _report(self, "absolute", "relative")
        if self.bayesian is not None:
            object.__setattr__(self, "bayesian", bayesian_as_reported(self.bayesian))
        object.__setattr__(self, "no_estimate_reason", no_estimate_reason(self.absolute.error))
        object.__setattr__(
            self, "relative_no_estimate_reason", no_estimate_reason(self.relative.error)
        )


@dataclass(frozen=True)
class Omnibus:
    """All arms equal? Welch's heteroskedastic one-way ANOVA (more than two arms).

    Undefined when an arm is constant: then the figures are NaN and the reason is given.
    """

    outcome: str
    f_statistic: float
    df_num: float
    df_den: float
    p_value: float
    no_estimate_reason: str | None = None


@dataclass(frozen=True)
class OutcomeResult:
    outcome: str
    title: str
    kind: str
    note: str
    arms: tuple[ArmOutcome, ...]
    comparisons: tuple[Comparison, ...]
    omnibus: Omnibus | None
    family: str = "primary"  # its multiplicity family: p_holm / p_bh adjust within it


@dataclass(frozen=True)
class SubgroupEffect:
    """The effect within one level of a segment variable."""

    outcome: str
    arm: str
    segment: str
    value: str
    n_control: int
    n_treatment: int
    control_mean: float
    treatment_mean: float
    effect: EffectEstimate
    p_holm: float
    p_bh: float
    true_effect: float | None
    warnings: tuple[str, ...] = ()
    no_estimate_reason: str | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        _report(self, "effect")
        object.__setattr__(self, "no_estimate_reason", no_estimate_reason(self.effect.error))


@dataclass(frozen=True)
class HeterogeneityTest:
    """Do the subgroup effects differ? Wald (Cochran's Q) test of equal effects across levels.

    The test uses the levels with an estimate (``levels``); those without one are listed
    in ``not_estimable``, never dropped silently. With fewer than two estimable levels
    there is no test: the figures are NaN and ``no_estimate_reason`` says so.
    """

    outcome: str
    arm: str
    segment: str
    q_statistic: float
    dof: int
    p_value: float
    p_holm: float
    p_bh: float
    levels: tuple[str, ...] = ()
    not_estimable: tuple[str, ...] = ()
    no_estimate_reason: str | None = None


@dataclass(frozen=True)
class CovariateBalance:
    covariate: str
    control_mean: float
    treatment_mean: float
    arm: str
    standardized_difference: float  # (mean_t - mean_c) / sqrt((var_t + var_c) / 2)


@dataclass(frozen=True)
class SampleRatio:
    """Sample-ratio mismatch: observed counts against planned weights."""

    arms: tuple[str, ...]
    counts: tuple[int, ...]
    expected_shares: tuple[float, ...]
    chi2: float
    dof: int
    p_value: float


@dataclass(frozen=True)
class DesignPower:
    """What the design could detect, for one outcome and one comparison."""

    outcome: str
    arm: str
    n_control: int
    n_treatment: int
    alpha: float
    target_power: float
    mde_absolute: float
    mde_relative: float  # from the same (real) arm sizes as mde_absolute
    n_per_arm_for_10pct_lift: int | None  # an even split
    no_estimate_reason: str | None = None  # why an MDE is NaN


@dataclass(frozen=True)
class ClusterProfile:
    cluster: str
    n: int
    share: float
    means: dict[str, float]  # covariate means in original units


@dataclass(frozen=True)
class Segmentation:
    """Customer segments from k-means on standardized pre-treatment covariates."""

    features: tuple[str, ...]
    k: int
    criterion: str
    scores: dict[int, float]  # criterion value per k tried
    profiles: tuple[ClusterProfile, ...]
    centroids_standardized: tuple[tuple[float, ...], ...]
    sample: dict[str, list[float]]  # a sample of points for the scatter plot
    notes: tuple[str, ...] = ()  # e.g. covariates left out because they are constant


@dataclass(frozen=True)
class Descriptives:
    n_units: int
    by_segment: dict[str, list[dict[str, Any]]]  # segment -> per level: n, covariate means
    outcome_distribution: tuple[dict[str, Any], ...]  # per outcome and arm: quantiles, zeros
    histograms: dict[str, dict[str, list[float]]]  # outcome -> arm -> counts on shared bins
    histogram_edges: dict[str, list[float]]


@dataclass(frozen=True)
class ExperimentResult:
    title: str
    source: str
    arm_column: str
    control: str
    arms: tuple[str, ...]
    alpha: float
    descriptives: Descriptives
    balance: tuple[CovariateBalance, ...]
    sample_ratio: SampleRatio
    outcomes: tuple[OutcomeResult, ...]
    subgroups: tuple[SubgroupEffect, ...]
    heterogeneity: tuple[HeterogeneityTest, ...]
    power: tuple[DesignPower, ...]
    segmentation: Segmentation | None
    segment_effects: tuple[SubgroupEffect, ...]
    notes: tuple[str, ...]
    data_notes: tuple[str, ...] = ()  # about the data itself (rows set aside, assumptions)
    alternative: str = "two-sided"  # of the comparisons and the power: or greater, less
    winsorized: tuple[Cap, ...] = ()  # with --winsorize: each capped column


def to_jsonable(value: Any) -> Any:
    """Plain JSON types for any result record; NaN and infinities become None."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [to_jsonable(v) for v in value.tolist()]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        f = float(value)
        return f if math.isfinite(f) else None
    return value
