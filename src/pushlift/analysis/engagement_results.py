"""Result records of the engagement analysis (frozen; `results.to_jsonable` serializes them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pushlift.analysis.engagement_data import Flow
from pushlift.analysis.propensity import IpwEstimate, Overlap
from pushlift.analysis.stats import EffectEstimate


@dataclass(frozen=True)
class GroupOutcome:
    """Customer-level outcomes of one group in one window (money in dollars)."""

    group: str  # 'responded' or 'did not respond'
    window: int
    n: int
    mean_purchases: float
    mean_net_spend: float
    sd_net_spend: float
    share_buying: float
    net_spend_quantiles: tuple[float, ...]  # at 0.05, 0.25, 0.5, 0.75, 0.95


@dataclass(frozen=True)
class TimeToPurchase:
    """Kaplan-Meier time to the first purchase after day 0, censored at the data's end."""

    group: str
    n: int
    buyers: int
    median_days: float | None  # None when fewer than half ever buy within follow-up
    share_bought_by_day: dict[int, float]


@dataclass(frozen=True)
class Coefficient:
    name: str
    effect: EffectEstimate


@dataclass(frozen=True)
class RegressionSummary:
    """OLS of a customer outcome with robust standard errors; R^2 of this customer table."""

    outcome: str
    window: int
    n: int
    r_squared: float
    cov_type: str
    coefficients: tuple[Coefficient, ...]


@dataclass(frozen=True)
class AdjustedComparison:
    """Responded minus did not respond, for one outcome and window, three ways."""

    outcome: str
    window: int
    unadjusted: EffectEstimate  # Welch difference in means
    regression_adjusted: EffectEstimate  # Lin's interacted OLS on pre-contact covariates
    ipw: IpwEstimate  # inverse propensity weighting (trimmed)


@dataclass(frozen=True)
class PowerPlan:
    """The randomized test that would settle it: message vs holdout, split 50/50."""

    outcome: str
    window: int
    mean: float
    sd: float
    customers: int
    alpha: float
    power: float
    mde_absolute: float
    mde_relative: float | None
    customers_for_10pct_lift: int


@dataclass(frozen=True)
class PropensityModel:
    names: tuple[str, ...]
    params: tuple[float, ...]
    se: tuple[float, ...]
    converged: bool


@dataclass(frozen=True)
class ChartData:
    """Per-customer values the report draws (primary window)."""

    responded: tuple[int, ...]
    n_messages: tuple[int, ...]
    net_spend: tuple[float, ...]
    propensity: tuple[float, ...]


@dataclass(frozen=True)
class EngagementResult:
    dataset_id: str
    title: str
    definitions: dict[str, str]
    flow: Flow
    windows: tuple[int, ...]
    primary_window: int
    covariates: tuple[str, ...]
    groups: tuple[GroupOutcome, ...]
    time_to_purchase: tuple[TimeToPurchase, ...]
    regressions: tuple[RegressionSummary, ...]
    propensity: PropensityModel
    overlap: Overlap
    adjusted: tuple[AdjustedComparison, ...]
    power: PowerPlan
    statements: tuple[str, ...]
    charts: ChartData
    naive: Any = None  # NaiveRowJoinResult when --method naive-row-join ran alongside
