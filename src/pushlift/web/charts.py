"""Small hand-written SVG charts for the dashboard: the daily trend, the funnel and an
experiment look by look."""

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
    # The year only where the days span more than one: 2019-10-07 and 2026-03-02 are not
    # neighbours.
    many_years = len({d["day"][:4] for d in trend}) > 1
    for i, d in enumerate(trend):
        if i % step == 0:
            out.append(
                f'<text x="{x(i)}" y="{height - 12}" font-size="11" text-anchor="middle">'
                f"{escape(d['day'] if many_years else d['day'][5:])}</text>"
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


def looks_svg(looks: list[dict[str, Any]], bucket: str, width: int = 760, height: int = 260) -> str:
    """An experiment look by look: the estimate (line), its always-valid 95% band (shaded)
    and the fixed-horizon 95% interval (whiskers), against zero."""
    shown = [k for k in looks if k["always_valid_low"] is not None]
    if not shown:
        return ""
    left, right, top, bottom = 64, 150, 12, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for k in shown for v in (k["always_valid_low"], k["always_valid_high"], 0.0)]
    values += [v for k in shown for v in (k["ci_low"], k["ci_high"]) if v is not None]
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.05 or 0.01
    lo, hi = lo - pad, hi + pad
    n = len(shown)

    def x(i: int) -> float:
        return round(left + plot_w * (i + 0.5) / n, 1)

    def y(v: float) -> float:
        return round(top + plot_h * (hi - v) / (hi - lo), 1)

    band = [f"{x(i)},{y(k['always_valid_high'])}" for i, k in enumerate(shown)]
    band += [f"{x(i)},{y(k['always_valid_low'])}" for i, k in reversed(list(enumerate(shown)))]
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="estimate and intervals look by look">',
        f'<polygon points="{" ".join(band)}" fill="#3b7dd8" fill-opacity="0.18"/>',
        f'<line x1="{left}" x2="{left + plot_w}" y1="{y(0)}" y2="{y(0)}" stroke="#888" '
        'stroke-dasharray="4 3"/>',
    ]
    labels = {fmt(v, "pp"): v for v in (lo + pad, 0.0, hi - pad)}  # one label per text
    for text_, v in labels.items():
        out.append(
            f'<text x="{left - 6}" y="{y(v) + 4}" font-size="11" text-anchor="end">'
            f"{escape(text_)}</text>"
        )
    step = max(1, n // 8)
    many_years = len({k["until"][:4] for k in shown}) > 1
    for i, k in enumerate(shown):
        if bucket == "day":
            label = k["until"][:10] if many_years else k["until"][5:10]
        else:  # hours over up to two days: the day too
            label = k["until"][5:13]
        if i % step == 0:
            out.append(
                f'<text x="{x(i)}" y="{height - 12}" font-size="11" text-anchor="middle">'
                f"{escape(label)}</text>"
            )
        if k["ci_low"] is not None and k["ci_high"] is not None:
            out.append(
                f'<line x1="{x(i)}" x2="{x(i)}" y1="{y(k["ci_low"])}" y2="{y(k["ci_high"])}" '
                'stroke="#d6453d" stroke-width="2"/>'
            )
    pts = " ".join(f"{x(i)},{y(k['effect'])}" for i, k in enumerate(shown))
    out.append(f'<polyline points="{pts}" fill="none" stroke="#1d4f91" stroke-width="2"/>')
    out += [
        f'<circle cx="{x(i)}" cy="{y(k["effect"])}" r="3" fill="#1d4f91"><title>'
        f"{escape(k['until'])}: {escape(fmt(k['effect'], 'pp'))}, always valid "
        f"{escape(fmt(k['always_valid_low'], 'pp'))} to "
        f"{escape(fmt(k['always_valid_high'], 'pp'))}</title></circle>"
        for i, k in enumerate(shown)
    ]
    legend = (
        ("#3b7dd8", "always-valid 95%", "rect"),
        ("#d6453d", "fixed-horizon 95%", "line"),
        ("#1d4f91", "estimate", "line"),
    )
    for row, (color, label, mark) in enumerate(legend):
        ly, lx = top + 14 + 18 * row, left + plot_w + 12
        out.append(
            f'<rect x="{lx}" y="{ly - 9}" width="10" height="10" fill="{color}" '
            'fill-opacity="0.4"/>'
            if mark == "rect"
            else f'<line x1="{lx}" x2="{lx + 10}" y1="{ly - 4}" y2="{ly - 4}" stroke="{color}" '
            'stroke-width="2"/>'
        )
        out.append(f'<text x="{lx + 15}" y="{ly}" font-size="12">{label}</text>')
    out.append("</svg>")
    return "".join(out)
