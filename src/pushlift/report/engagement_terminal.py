"""The terminal summary of the engagement analysis (rich tables)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from pushlift.analysis.engagement_results import EngagementResult
from pushlift.analysis.stats import EffectEstimate


def _money(x: float) -> str:
    return f"{x:,.2f}"


def _ci(e: EffectEstimate, fmt: str = "{:+,.2f}") -> str:
    return f"{fmt.format(e.ci_low)} to {fmt.format(e.ci_high)}"


def print_engagement(r: EngagementResult, console: Console) -> None:
    """Group outcomes, the regression, the adjusted comparisons and the conclusions."""
    g = Table(title=f"{r.title}: customers after contact", title_justify="left")
    for col in ("window", "group", "customers", "bought", "purchases", "net spend $"):
        g.add_column(col, justify="left" if col in ("group",) else "right")
    for x in r.groups:
        g.add_row(f"{x.window} d", x.group, f"{x.n:,}", f"{x.share_buying:.0%}",
                  f"{x.mean_purchases:.2f}", _money(x.mean_net_spend))
    console.print(g)

    reg = Table(title="Regression on the customer table (HC2 robust SE)", title_justify="left")
    for col in ("model", "term", "coef", "SE", "p"):
        reg.add_column(col, justify="left" if col in ("model", "term") else "right")
    for m in r.regressions:
        for i, co in enumerate(m.coefficients):
            e = co.effect
            model = f"{m.outcome}, {m.window} d (n={m.n:,}, R²={m.r_squared:.3f})"
            reg.add_row(model if i == 0 else "", co.name, f"{e.estimate:+.3f}", f"{e.se:.3f}",
                        f"{e.p_value:.3g}")
    console.print(reg)

    adj = Table(title="Responded minus did not respond (95% CI)", title_justify="left")
    for col in ("outcome", "unadjusted", "regression-adjusted", "IPW"):
        adj.add_column(col, justify="left" if col == "outcome" else "right")
    for a in r.adjusted:
        adj.add_row(f"{a.outcome}, {a.window} d",
                    *(f"{e.estimate:+,.2f} ({_ci(e)})"
                      for e in (a.unadjusted, a.regression_adjusted, a.ipw.effect)))
    console.print(adj)
    for line in r.statements:
        console.print(f"• {line}", highlight=False)


def print_naive(naive: Any, careful: EngagementResult | None, console: Console) -> None:
    """The published row-join figures as reproduced, next to the careful figures."""
    t = Table(title="The published row-join analysis, reproduced", title_justify="left")
    for col in ("figure", "published", "reproduced", "matches"):
        t.add_column(col, justify="left" if col == "figure" else "right")
    for f in naive.figures:
        t.add_row(f.label, f"{f.published:.{f.decimals}f}", f"{f.reproduced:.{f.decimals}f}",
                  "yes" if f.matches else "NO")
    console.print(t)
    if careful is None:
        return
    w = careful.primary_window
    g1 = next(x for x in careful.groups if x.window == w and x.group == "responded")
    g0 = next(x for x in careful.groups if x.window == w and x.group == "did not respond")
    a = next(x for x in careful.adjusted if x.window == w and x.outcome == "net_spend")
    s = Table(title="Side by side: row join vs one row per customer", title_justify="left")
    for col in ("", "naive row join", f"careful ({w}-day net spend per customer)"):
        s.add_column(col, justify="left" if col == "" else "right")
    s.add_row("rows analysed", f"{naive.joined_rows:,} joined rows",
              f"{careful.flow.customers:,} customers")
    s.add_row("non-responders", f"${naive.mean_amount_non_responders:,.2f} per row",
              f"${g0.mean_net_spend:,.2f}")
    s.add_row("responders", f"${naive.mean_amount_responders:,.2f} per row",
              f"${g1.mean_net_spend:,.2f}")
    s.add_row("responders minus non-responders",
              f"{naive.mean_amount_responders - naive.mean_amount_non_responders:+,.2f}",
              f"{a.unadjusted.estimate:+,.2f} (adjusted: RA {a.regression_adjusted.estimate:+,.2f},"
              f" IPW {a.ipw.effect.estimate:+,.2f})")
    console.print(s)
    for f in naive.flaws:
        console.print(f"• {f.flaw}: {f.naive} → without it: {f.without_flaw}", highlight=False)
