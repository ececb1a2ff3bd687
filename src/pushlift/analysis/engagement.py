"""The careful engagement analysis: one row per customer, windows after the first contact,
responders vs non-responders described, modelled and adjusted, and the test that would
settle it. SQL builds the customer table (`engagement_data`); Python does the statistics
on it (a few thousand rows at most).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import duckdb
import numpy as np
from scipy import stats as sps

from pushlift.analysis import engagement_data as data
from pushlift.analysis.engagement_results import (
    AdjustedComparison,
    ChartData,
    Coefficient,
    EngagementResult,
    GroupOutcome,
    PowerPlan,
    PropensityModel,
    RegressionSummary,
    TimeToPurchase,
)
from pushlift.analysis.engagement_wording import statements
from pushlift.analysis.propensity import LogitFit, fit_logit, ipw_effect, overlap
from pushlift.analysis.regression import OlsFit, Regressor, fit_ols
from pushlift.analysis.small_ols import ols_hc2
from pushlift.analysis.stats import (
    EffectEstimate,
    SampleMean,
    minimum_detectable_effect,
    welch_test,
)
from pushlift.errors import PushliftError

GROUPS = ((1, "responded"), (0, "did not respond"))
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
KM_DAYS = (7, 30, 90)
MIN_LOCATION_CUSTOMERS = 20  # locations with fewer customers are pooled as 'other'


def analyze_engagement(
    con: duckdb.DuckDBPyConnection,
    *,
    dataset_id: str = "crm",
    windows: Sequence[int] = (7, 30),
    max_ids_per_phone: int = 50,
    pre_days: int = 365,
    trim: tuple[float, float] = (0.05, 0.95),
    alpha: float = 0.05,
    power_target: float = 0.8,
    progress: Callable[[str], None] | None = None,
) -> EngagementResult:
    """Analyse an imported CRM dataset at the customer level (see `engagement_data`)."""
    step = progress or (lambda _m: None)
    windows = tuple(sorted({int(w) for w in windows}))
    if not windows or windows[0] < 1:
        raise PushliftError("windows must be whole numbers of days, at least 1")
    step("building the customer table")
    flow = data.build_customer_table(
        con, dataset_id, windows, max_ids_per_phone=max_ids_per_phone, pre_days=pre_days
    )
    c = data.fetch_customers(con)
    t = c["responded"].astype(int)
    if min(int(t.sum()), int((1 - t).sum())) < 10:
        raise PushliftError(
            f"too few customers to compare ({int(t.sum())} responded, "
            f"{int((1 - t).sum())} did not); at least 10 in each group are needed"
        )
    primary = windows[-1]

    step("describing the groups")
    groups = tuple(_group(c, t, g, label, w) for w in windows for g, label in GROUPS)
    ttp = tuple(_time_to_purchase(c, t == g, label) for g, label in GROUPS)

    step("regressions")
    regressions = tuple(
        _regression(con, outcome, w)
        for w in windows
        for outcome in (f"net_cents_{w}d / 100.0", f"purchases_{w}d")
    )

    step("propensity model and adjusted comparisons")
    cov_values = _covariates(c)
    x = np.column_stack([np.ones(len(t)), *cov_values.values()])
    logit = fit_logit(x, t.astype(float), ("const", *cov_values))
    e = logit.predict(x)
    diag, keep = overlap(e, t, cov_values, trim=trim)
    adjusted = tuple(
        _adjusted(c, t, x, logit, keep, cov_values, outcome, w, alpha)
        for w in windows
        for outcome in ("net_spend", "purchases")
    )
    plan = _power(c, primary, alpha, power_target)
    texts = statements(c, t, primary, flow=flow, groups=groups, adjusted=adjusted, plan=plan,
                       diag=diag)
    y_primary = c[f"net_cents_{primary}d"] / 100.0
    return EngagementResult(
        dataset_id=dataset_id,
        title=f"Engagement after contact — CRM dataset {dataset_id}",
        definitions=_definitions(max_ids_per_phone, pre_days, windows),
        flow=flow,
        windows=windows,
        primary_window=primary,
        covariates=tuple(cov_values),
        groups=groups,
        time_to_purchase=ttp,
        regressions=regressions,
        propensity=PropensityModel(
            logit.names,
            tuple(float(v) for v in logit.params),
            tuple(float(v) for v in np.sqrt(np.diag(logit.cov))),
            logit.converged,
        ),
        overlap=diag,
        adjusted=adjusted,
        power=plan,
        statements=texts,
        charts=ChartData(
            tuple(int(v) for v in t),
            tuple(int(v) for v in c["n_messages"]),
            tuple(float(v) for v in y_primary),
            tuple(float(v) for v in e),
        ),
    )


def _definitions(max_ids: int, pre_days: int, windows: Sequence[int]) -> dict[str, str]:
    return {
        "customer": (
            "a phone key of the messages file (its only key); phones shared by more than "
            f"{max_ids} customer ids in the sales file are left out"
        ),
        "contact": (
            "the customer's first conversation in the export; response and number of "
            "messages are that conversation's"
        ),
        "day 0": (
            "the contact's date; sales carry dates only, so purchases on day 0 (possibly "
            "before the message) count in neither period"
        ),
        "windows": ", ".join(f"days 1-{w}" for w in windows) + " after day 0",
        "pre-contact": f"the {pre_days} days before day 0: net spend, purchases, location",
        "population": (
            "contacted customers with at least one purchase recorded under their phone before "
            "day 0 and a complete longest window before the last sale in the file"
        ),
        "spend": (
            "transaction sales minus their returns (dollars, VAT included), dated at the order; "
            "returns beyond a transaction's recorded sales are not subtracted"
        ),
    }


def _group(c: dict[str, np.ndarray], t: np.ndarray, g: int, label: str, w: int) -> GroupOutcome:
    m = t == g
    net = c[f"net_cents_{w}d"][m] / 100.0
    purchases = c[f"purchases_{w}d"][m]
    return GroupOutcome(
        group=label,
        window=w,
        n=int(m.sum()),
        mean_purchases=float(purchases.mean()),
        mean_net_spend=float(net.mean()),
        sd_net_spend=float(net.std(ddof=1)),
        share_buying=float((purchases > 0).mean()),
        net_spend_quantiles=tuple(float(v) for v in np.quantile(net, QUANTILES)),
    )


def _time_to_purchase(c: dict[str, np.ndarray], m: np.ndarray, label: str) -> TimeToPurchase:
    event = ~np.isnan(c["days_to_first_purchase"][m])
    time = np.where(event, c["days_to_first_purchase"][m], c["follow_up_days"][m])
    surv, curve = 1.0, []
    for d in np.unique(time[event]):
        at_risk = int((time >= d).sum())
        surv *= 1 - int(((time == d) & event).sum()) / at_risk
        curve.append((float(d), surv))

    def bought_by(day: int) -> float:
        s = next((s for d, s in reversed(curve) if d <= day), 1.0)
        return 1 - s

    median = next((d for d, s in curve if s <= 0.5), None)
    return TimeToPurchase(
        group=label,
        n=int(m.sum()),
        buyers=int(event.sum()),
        median_days=median,
        share_bought_by_day={d: bought_by(d) for d in KM_DAYS},
    )


def _t_estimate(b: float, se: float, dof: int, alpha: float) -> EffectEstimate:
    """A coefficient as an estimate with a t-based interval and two-sided p-value."""
    q = float(sps.t.ppf(1 - alpha / 2, dof))
    p = float(2 * sps.t.sf(abs(b / se), dof)) if se > 0 else math.nan
    return EffectEstimate(b, se, b - q * se, b + q * se, p, float(dof), False, "two-sided")


def _coefficient_estimates(fit: OlsFit, alpha: float = 0.05) -> tuple[Coefficient, ...]:
    return tuple(
        Coefficient(name, _t_estimate(float(b), float(se), fit.df_resid, alpha))
        for name, b, se in zip(fit.names, fit.params, fit.se(), strict=True)
    )


def _regression(con: duckdb.DuckDBPyConnection, outcome: str, w: int) -> RegressionSummary:
    fit = fit_ols(
        con,
        data.TABLE,
        outcome,
        [Regressor("const", "1"), Regressor("n_messages", "n_messages"),
         Regressor("responded", "responded")],
        where="excluded IS NULL",
        cov_type="HC2",
    )
    name = "net spend ($)" if outcome.startswith("net") else "purchases"
    return RegressionSummary(name, w, fit.n, fit.r_squared, fit.cov_type,
                             _coefficient_estimates(fit))


def _covariates(c: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Pre-contact covariates: spend (hundreds of dollars), purchases, location dummies."""
    values: dict[str, np.ndarray] = {
        "pre_net_spend_100": c["pre_net_cents"] / 10000.0,
        "pre_purchases": c["pre_purchases"].astype(float),
    }
    locations, counts = np.unique(c["location_key"], return_counts=True)
    frequent = sorted(str(loc) for loc, n in zip(locations, counts, strict=True)
                      if n >= MIN_LOCATION_CUSTOMERS)
    # The most frequent location is the reference level, as is every rare one ('other').
    for loc in frequent[1:] if len(frequent) == len(locations) else frequent:
        values[f"location={loc}"] = (c["location_key"] == loc).astype(float)
    return values


def _welch(y: np.ndarray, t: np.ndarray, alpha: float) -> EffectEstimate:
    def stat(v: np.ndarray) -> SampleMean:
        return SampleMean(len(v), float(v.sum()), float((v**2).sum()))

    return welch_test(stat(y[t == 0]), stat(y[t == 1]), relative=False, alpha=alpha)


def _adjusted(
    c: dict[str, np.ndarray],
    t: np.ndarray,
    x: np.ndarray,
    logit: LogitFit,
    keep: np.ndarray,
    cov_values: dict[str, np.ndarray],
    outcome: str,
    w: int,
    alpha: float,
) -> AdjustedComparison:
    y = c[f"net_cents_{w}d"] / 100.0 if outcome == "net_spend" else c[f"purchases_{w}d"] * 1.0
    # Lin (2013): covariates centred at the sample mean, interacted with the group, so the
    # group coefficient is the adjusted difference averaged over all customers.
    cols = [np.ones(len(y)), t.astype(float)]
    for v in cov_values.values():
        centred = v - v.mean()
        cols += [centred, t * centred]
    beta, cov, _ = ols_hc2(np.column_stack(cols), y)
    lin = _t_estimate(float(beta[1]), float(np.sqrt(cov[1, 1])), len(y) - len(cols), alpha)
    ipw = ipw_effect(y, t, x, logit, keep, alpha=alpha)
    return AdjustedComparison(outcome, w, _welch(y, t, alpha), lin, ipw)


def _power(c: dict[str, np.ndarray], w: int, alpha: float, target: float) -> PowerPlan:
    y = c[f"net_cents_{w}d"] / 100.0
    n = len(y)
    mean, var = float(y.mean()), float(y.var(ddof=1))
    absolute = minimum_detectable_effect(target, mean, var, n, relative=False, alpha=alpha)
    relative = minimum_detectable_effect(target, mean, var, n, relative=True, alpha=alpha)
    mde = float(absolute.mde) if absolute.mde is not None else math.nan
    # The absolute MDE shrinks as 1/sqrt(n): the n at which it equals a 10% lift.
    needed = math.ceil(n * (mde / (0.1 * mean)) ** 2) if mean > 0 else 0
    return PowerPlan(
        outcome="net spend ($)",
        window=w,
        mean=mean,
        sd=math.sqrt(var),
        customers=n,
        alpha=alpha,
        power=target,
        mde_absolute=mde,
        mde_relative=relative.mde,
        customers_for_10pct_lift=needed + needed % 2,
    )
