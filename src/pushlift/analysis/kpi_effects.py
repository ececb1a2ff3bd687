"""The statistics behind the incremental KPIs, on the sums kpi_queries.py returns.

The conversion rate per notification is a ratio metric with the subscriber (the randomized
unit) as the unit, so its standard error comes from the delta method, clustered by
subscriber, and the Welch test in stats.py gives the interval. A group spanning several
experiments (holdout shares may differ) combines the per-experiment effects weighted by
delivered notifications, so no experiment's holdout share biases another's.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from statistics import NormalDist

from pushlift.analysis import kpi_queries as q
from pushlift.analysis.stats import (
    ZERO_NEGATIVE_VARIANCE_MESSAGE,
    EffectEstimate,
    RatioStatistic,
    welch_test,
)

ALPHA = 0.05
Z = NormalDist().inv_cdf(1 - ALPHA / 2)  # scipy's ppf costs more than a whole row


@dataclass(frozen=True)
class Estimate:
    """A value with a two-sided 95% interval (None where no interval is meaningful)."""

    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None

    def scaled(self, factor: float) -> Estimate:
        def s(x: float | None) -> float | None:
            return None if x is None else x * factor

        lo, hi = s(self.ci_low), s(self.ci_high)
        if factor < 0 and lo is not None and hi is not None:
            lo, hi = hi, lo
        return Estimate(s(self.value), lo, hi, self.p_value)


NONE = Estimate(None)


def ratio_statistic(cell: q.ArmSums, metric: str) -> RatioStatistic:
    if metric == "conversion":
        m, m_sq, m_d = cell.conversions, cell.conversions_sq, cell.conversions_x_notes
    else:
        m, m_sq, m_d = cell.revenue_cents, cell.revenue_sq, cell.revenue_x_notes
    return RatioStatistic(cell.subscribers, m, m_sq, cell.notifications, cell.notifications_sq, m_d)


def rate(cells: list[q.ArmSums]) -> Estimate:
    """Conversion rate per notification of `cells` pooled, with a clustered interval."""
    if not cells or not sum(c.notifications for c in cells):
        return NONE
    sums = zip(*(c.sums() for c in cells), strict=True)
    pooled = q.ArmSums(*cells[0].labels(), *(sum(x) for x in sums))
    stat = ratio_statistic(pooled, "conversion")
    if stat.n < 2:
        return Estimate(stat.mean)
    half = Z * math.sqrt(stat.variance / stat.n)
    return Estimate(stat.mean, stat.mean - half, stat.mean + half)


def agresti_caffo(held: q.ArmSums, sent: q.ArmSums) -> EffectEstimate:
    """Conversion difference when an arm shows no variation (typically: no held-out
    conversion yet), where the delta method would call the difference exact. Agresti and
    Caffo (2000) add one conversion and one non-conversion to each arm, which keeps the
    interval honest at small counts; notifications count as independent here."""
    n0, n1 = held.notifications + 2, sent.notifications + 2
    p0, p1 = (held.conversions + 1) / n0, (sent.conversions + 1) / n1
    se = math.sqrt(p0 * (1 - p0) / n0 + p1 * (1 - p1) / n1)
    raw = sent.conversions / sent.notifications - held.conversions / held.notifications
    p = 2 * NormalDist().cdf(-abs((p1 - p0) / se))
    return EffectEstimate(raw, se, p1 - p0 - Z * se, p1 - p0 + Z * se, p, None, False, "two-sided")


def experiment_effect(held: q.ArmSums, sent: q.ArmSums, metric: str) -> EffectEstimate:
    """One experiment's per-notification effect of delivery (Welch on the subscriber-level
    ratio; Agresti-Caffo for conversion when an arm shows no variation)."""
    effect = welch_test(
        ratio_statistic(held, metric), ratio_statistic(sent, metric), relative=False
    )
    if effect.error == ZERO_NEGATIVE_VARIANCE_MESSAGE and metric == "conversion":
        effect = agresti_caffo(held, sent)
    return effect


def incremental(cells: list[q.ArmSums], metric: str) -> tuple[Estimate, int, int]:
    """Per-notification effect of delivery, combined over experiments.

    Returns the estimate, the delivered notifications it covers and their spend.
    """
    by_exp: dict[str, dict[bool, q.ArmSums]] = defaultdict(dict)
    for c in cells:
        by_exp[c.experiment_id][c.delivered] = c
    parts = []
    for arms in by_exp.values():
        held, sent = arms.get(False), arms.get(True)
        if held is None or sent is None or held.subscribers < 2 or sent.subscribers < 2:
            continue
        effect = experiment_effect(held, sent, metric)
        if effect.error is None:
            parts.append((effect, sent.notifications, sent.spend_cents))
    if not parts:
        return NONE, 0, 0
    covered = sum(w for _, w, _ in parts)
    spend = sum(s for _, _, s in parts)
    if len(parts) == 1:
        e = parts[0][0]
        return Estimate(e.estimate, e.ci_low, e.ci_high, e.p_value), covered, spend
    est = sum(e.estimate * w for e, w, _ in parts) / covered
    se = math.sqrt(sum((e.se * w) ** 2 for e, w, _ in parts)) / covered
    p = 2 * NormalDist().cdf(-abs(est / se)) if se > 0 else 1.0
    return Estimate(est, est - Z * se, est + Z * se, float(p)), covered, spend


def div(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def cost_per(conversions: Estimate, spend: int) -> Estimate:
    """Spend per incremental conversion; its interval inverts the conversions' interval
    (an open upper end when that interval reaches zero)."""
    if conversions.value is None or conversions.value <= 0:
        return NONE
    lo, hi = conversions.ci_low, conversions.ci_high
    return Estimate(
        spend / conversions.value,
        spend / hi if hi and hi > 0 else None,
        spend / lo if lo and lo > 0 else None,
    )


@dataclass(frozen=True)
class GroupEffects:
    """A group's rates and what delivery caused (totals scale the per-notification effect
    by the delivered notifications of the experiments that have a holdout to compare)."""

    conversion_rate: Estimate
    holdout_conversion_rate: Estimate
    incremental_conversion: Estimate  # per delivered notification
    incremental_conversions: Estimate
    incremental_revenue_cents: Estimate
    incremental_roas: Estimate
    cost_per_incremental_conversion_cents: Estimate


def group_effects(cells: list[q.ArmSums]) -> GroupEffects:
    conversion, covered, spend = incremental(cells, "conversion")
    revenue, covered_r, spend_r = incremental(cells, "revenue")
    conversions, revenue_total = conversion.scaled(covered), revenue.scaled(covered_r)
    return GroupEffects(
        conversion_rate=rate([c for c in cells if c.delivered]),
        holdout_conversion_rate=rate([c for c in cells if not c.delivered]),
        incremental_conversion=conversion,
        incremental_conversions=conversions,
        incremental_revenue_cents=revenue_total,
        incremental_roas=revenue_total.scaled(1 / spend_r) if spend_r else NONE,
        cost_per_incremental_conversion_cents=cost_per(conversions, spend),
    )
