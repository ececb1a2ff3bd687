"""Small hand-written SVG charts for the dashboard: the daily trend and the funnel."""

from __future__ import annotations

from html import escape
from typing import Any

from pushlift.report.numbers import fmt

TREND_SERIES = (
    ("notifications", "sent", "#3b7dd8"),
    ("held_out", "held out", "#999999"),
    ("conversions", "conversions", "#d6453d"),
)


def trend_svg(trend: list[dict[str, Any]], width: int = 760, height: int = 240) -> str:
    """Lines per day for notifications sent, held out and conversions."""
    if not trend:
        return ""
    left, right, top, bottom = 56, 110, 12, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    top_value = max([max(d[k] for k, _, _ in TREND_SERIES) for d in trend] + [1])
    n = len(trend)

    def x(i: int) -> float:
        return round(left + (plot_w * (i + 0.5) / n), 1)

    def y(v: float) -> float:
        return round(top + plot_h * (1 - v / top_value), 1)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="daily trend">',
        f'<line x1="{left}" x2="{left + plot_w}" y1="{y(0)}" y2="{y(0)}" stroke="#ccc"/>',
        f'<text x="{left - 6}" y="{y(top_value) + 4}" font-size="11" text-anchor="end">'
        f"{fmt(top_value)}</text>",
        f'<text x="{left - 6}" y="{y(0) + 4}" font-size="11" text-anchor="end">0</text>',
    ]
    step = max(1, n // 8)  # at most about eight day labels
    for i, d in enumerate(trend):
        if i % step == 0:
            out.append(
                f'<text x="{x(i)}" y="{height - 12}" font-size="11" text-anchor="middle">'
                f"{escape(d['day'][5:])}</text>"
            )
    for row, (key, label, color) in enumerate(TREND_SERIES):
        pts = " ".join(f"{x(i)},{y(d[key])}" for i, d in enumerate(trend))
        out.append(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="2"/>')
        out += [
            f'<circle cx="{x(i)}" cy="{y(d[key])}" r="3" fill="{color}"><title>{escape(d["day"])}: '
            f"{fmt(d[key])} {label}</title></circle>"
            for i, d in enumerate(trend)
        ]
        ly = top + 14 + 18 * row
        out.append(
            f'<rect x="{left + plot_w + 12}" y="{ly - 9}" width="10" height="10" fill="{color}"/>'
            f'<text x="{left + plot_w + 27}" y="{ly}" font-size="12">{label}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def funnel_svg(funnel: list[dict[str, Any]], width: int = 760) -> str:
    """Horizontal bars, one per stage, with the share kept from the stage before."""
    if not funnel:
        return ""
    label_w, bar_h, gap = 240, 22, 8
    height = len(funnel) * (bar_h + gap) + gap
    most = max([s["count"] for s in funnel] + [1])
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="conversion funnel">'
    ]
    previous = None
    for i, s in enumerate(funnel):
        y = gap + i * (bar_h + gap)
        w = round((width - label_w - 150) * s["count"] / most, 1)
        kept = f" ({fmt(s['count'] / previous, 'share')} of previous)" if previous else ""
        out.append(
            f'<text x="{label_w - 8}" y="{y + 15}" font-size="12" text-anchor="end">'
            f"{escape(s['stage'])}</text>"
            f'<rect x="{label_w}" y="{y}" width="{w}" height="{bar_h}" fill="#3b7dd8"/>'
            f'<text x="{label_w + w + 6}" y="{y + 15}" font-size="12">{fmt(s["count"])}{kept}'
            "</text>"
        )
        previous = s["count"] or None
    out.append("</svg>")
    return "".join(out)
