"""`pushlift analyze kpis` in the terminal: headline KPIs, then the vendor table."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from pushlift.analysis.kpis import KpiReport
from pushlift.report.kpi_format import fmt_interval, fmt_value


def print_kpis(report: KpiReport, console: Console, top: int = 15) -> None:
    head = Table(
        title=f"KPIs (last touch within {report.window_hours:g} h; 95% intervals)"
        if report.touch == "last"
        else f"KPIs (first touch within {report.window_hours:g} h; 95% intervals)",
        title_justify="left",
    )
    for col in ("KPI", "value", "95% interval"):
        head.add_column(col, justify="left" if col == "KPI" else "right")
    for k in report.overall:
        head.add_row(k.label, fmt_value(k.value, k.unit), fmt_interval(k))
    console.print(head)
    vendors = sorted(report.breakdowns["vendor"], key=lambda r: -r.notifications)[:top]
    if not vendors:
        console.print(
            "no notifications in the store yet: run `pushlift simulate city` or `pushlift run`"
        )
        return
    table = Table(title=f"Vendors by notifications (top {len(vendors)})", title_justify="left")
    for col in ("vendor", "sent", "conv. rate", "incremental (95% CI)", "spend", "iROAS", "lift"):
        table.add_column(col, justify="left" if col == "vendor" else "right", no_wrap=True)
    for r in vendors:
        lift = (
            f"{r.incremental_conversion:+.1%} ({r.incremental_conversion_ci_low:+.1%} to "
            f"{r.incremental_conversion_ci_high:+.1%})"
            if r.incremental_conversion is not None
            else "no holdout to compare"
        )
        table.add_row(
            r.key,
            f"{r.notifications:,}",
            fmt_value(r.conversion_rate, "share"),
            lift,
            fmt_value(r.spend_cents, "cents"),
            fmt_value(r.incremental_roas, "ratio"),
            "yes" if r.significant else "",
        )
    console.print(table)
    console.print(
        "lift: positive incremental conversion, Benjamini-Hochberg adjusted p < 0.05 across "
        "vendors. 'no holdout to compare': fewer than two held-out subscribers."
    )
