"""The terminal summary of an experiment analysis (rich tables)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from pushlift.analysis.results import ExperimentResult
from pushlift.report.wording import conclusions, fmt_p, fmt_pct, fmt_value, interval


def print_result(result: ExperimentResult, console: Console) -> None:
    """Effects table, strongest subgroup findings and the plain-language conclusions."""
    level = f"{(1 - result.alpha) * 100:g}% CI"
    t = Table(title=result.title, title_justify="left")
    for col in (
        "outcome",
        "arm",
        "control",
        "arm mean",
        "effect",
        level,
        "p (Holm)",
        "relative",
        "adjusted",
        "CI narrower",
    ):
        t.add_column(col, justify="left" if col in ("outcome", "arm") else "right")
    for o in result.outcomes:
        for c in o.comparisons:
            a = c.absolute
            adj = c.adjusted
            means = (
                fmt_value(o.arms[0].mean, o.kind),
                fmt_value(next(x.mean for x in o.arms if x.arm == c.arm), o.kind),
            )
            if adj is None:
                adjusted = ("n/a", "n/a")
            elif adj.no_estimate_reason is not None:
                adjusted = ("no estimate", "")
            else:
                adjusted = (
                    fmt_value(adj.effect.estimate, o.kind, signed=True),
                    fmt_pct(adj.ci_narrowing, signed=False),
                )
            if c.no_estimate_reason is not None:
                t.add_row(o.outcome, c.arm, *means, f"no estimate: {c.no_estimate_reason}",
                          "", "", "", *adjusted)  # fmt: skip
                continue
            t.add_row(
                o.outcome,
                c.arm,
                *means,
                fmt_value(a.estimate, o.kind, signed=True),
                interval(a, o.kind),
                f"{fmt_p(a.p_value)} ({fmt_p(c.p_holm)})",
                fmt_pct(c.relative.estimate) if c.relative_no_estimate_reason is None
                else "no estimate",
                *adjusted,
            )  # fmt: skip
    console.print(t)
    h = Table(
        title="Do effects differ between segments? (test of equal effects)", title_justify="left"
    )
    for col in ("outcome", "arm", "segment", "p", "p Holm", "p BH"):
        h.add_column(col)
    for test in result.heterogeneity:
        h.add_row(
            test.outcome,
            test.arm,
            test.segment,
            fmt_p(test.p_value),
            fmt_p(test.p_holm),
            fmt_p(test.p_bh),
        )
    if result.heterogeneity:
        console.print(h)
    if result.segmentation:
        s = result.segmentation
        console.print(f"Customer segments: k = {s.k} ({s.criterion}).")
    for line in conclusions(result):
        console.print(f"• {line}", highlight=False)
