"""Plain-language statements of the engagement analysis: what the numbers do and do not show."""

from __future__ import annotations

import numpy as np

from pushlift.analysis.engagement_data import Flow
from pushlift.analysis.engagement_results import AdjustedComparison, GroupOutcome, PowerPlan
from pushlift.analysis.propensity import Overlap
from pushlift.analysis.stats import EffectEstimate


def _money(x: float, signed: bool = False) -> str:
    sign = ("+" if x > 0 else "-" if x < 0 else "") if signed else ("-" if x < 0 else "")
    return f"{sign}${abs(x):,.2f}"


def _ci(e: EffectEstimate) -> str:
    low, high = _money(e.ci_low, True), _money(e.ci_high, True)
    return f"{_money(e.estimate, True)} (95% CI {low} to {high})"


def statements(
    c: dict[str, np.ndarray],
    t: np.ndarray,
    w: int,
    *,
    flow: Flow,
    groups: tuple[GroupOutcome, ...],
    adjusted: tuple[AdjustedComparison, ...],
    plan: PowerPlan,
    diag: Overlap,
) -> tuple[str, ...]:
    """The conclusions, in order: population, description, selection, adjustment, test."""
    g1 = next(g for g in groups if g.window == w and g.group == "responded")
    g0 = next(g for g in groups if g.window == w and g.group == "did not respond")
    a = next(x for x in adjusted if x.window == w and x.outcome == "net_spend")
    pre1 = float(c["pre_purchases"][t == 1].mean())
    pre0 = float(c["pre_purchases"][t == 0].mean())
    smd = next(b for b in diag.balance if b.covariate == "pre_purchases")
    msg1 = float(c["n_messages"][t == 1].mean())
    msg0 = float(c["n_messages"][t == 0].mean())
    trimmed = diag.trimmed_treated + diag.trimmed_control
    worst_after = max(abs(b.smd_after) for b in diag.balance)
    rel = f" ({plan.mde_relative:.0%} of the mean)" if plan.mde_relative is not None else ""
    return (
        f"One row per customer: {flow.customers:,} contacted customers ({flow.responders:,} "
        f"responded) of {flow.contacted_phones:,} contacted phones; "
        f"{flow.excluded_not_linkable:,} had no purchase recorded under their phone before "
        f"contact, {flow.excluded_shared_phone:,} used a phone shared by many customer ids, "
        f"{flow.excluded_incomplete_window:,} were contacted too close to the end of the sales "
        "data.",
        f"In the {w} days after contact, customers who responded spent "
        f"{_money(g1.mean_net_spend)} on average (net of returns; {g1.share_buying:.0%} bought) "
        f"and those who did not {_money(g0.mean_net_spend)} ({g0.share_buying:.0%} bought): a "
        f"difference of {_ci(a.unadjusted)}.",
        "Response is self-selected: customers chose to reply, and those who did were different "
        f"before any message — {pre1:.1f} purchases in the year before contact against "
        f"{pre0:.1f} (standardized difference {smd.smd_before:+.2f}). The raw difference mixes "
        "who replies with what replying does.",
        f"Compared with customers alike before contact (spend, purchases, location): regression "
        f"adjustment gives {_ci(a.regression_adjusted)}, inverse propensity weighting "
        f"{_ci(a.ipw.effect)} (its error allows for the propensities being estimated; "
        f"{trimmed:,} customers with propensity outside "
        f"{diag.trim_low:g}-{diag.trim_high:g} trimmed; effective sample sizes "
        f"{diag.ess_treated:,.0f} and {diag.ess_control:,.0f}; largest standardized difference "
        f"after weighting {worst_after:.2f}).",
        "Neither adjustment can remove differences nobody measured, such as an intention to buy "
        "that made the customer reply in the first place, nor fully those measured noisily: a "
        "year of purchases gauges a customer's usual buying only roughly (a few purchases a "
        "year vary a lot by chance), so customers alike on paper still differ, and the adjusted "
        "difference keeps part of the selection. These are associations, not effects. "
        "Only a randomized test can settle whether messages cause purchases.",
        f"The number of messages mostly measures the dialogue a reply creates (responders: "
        f"{msg1:.1f} messages in the first conversation, others {msg0:.1f}); its coefficient is "
        "not the effect of sending more messages.",
        f"The test that would settle it: hold out a random half of customers like these from "
        f"messages. With {plan.customers:,} customers, {w}-day net spend (mean "
        f"{_money(plan.mean)}, sd {_money(plan.sd)}) could reveal an effect of "
        f"{_money(plan.mde_absolute)}{rel} with {plan.power:.0%} power at "
        f"{plan.alpha:g} significance; detecting a 10% lift needs about "
        f"{plan.customers_for_10pct_lift:,} customers.",
    )
