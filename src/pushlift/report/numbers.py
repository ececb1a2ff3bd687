"""How pushlift writes numbers: one place, so the dashboard, the reports and the terminal agree.

Rounding is half away from zero on the exact value of the float (`Decimal(x)`), which
is what a reader expects and does not depend on the platform's float formatting.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal, localcontext

MISSING = "—"


def _fixed(x: float | int, digits: int) -> str:
    with localcontext() as ctx:
        ctx.prec = 100  # exact: a double has at most ~770 significant digits, far fewer here
        d = Decimal(x).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    return f"{d:,.{digits}f}"


def fmt(value: object, unit: str = "count") -> str:
    """A value as the dashboard shows it. Units: count, share, pp, cents, dollars, ratio, p."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return MISSING if value is None else str(value)
    if not math.isfinite(value):
        return MISSING
    if unit == "share":
        with localcontext() as ctx:
            ctx.prec = 100
            pct = Decimal(value) * 100
        return _fixed(pct, 1) + "%"  # type: ignore[arg-type]
    if unit == "pp":  # a difference of two shares, in percentage points
        with localcontext() as ctx:
            ctx.prec = 100
            points = Decimal(value) * 100
        return _fixed(points, 1) + " pp"  # type: ignore[arg-type]
    if unit in ("cents", "dollars"):
        amount = Decimal(value) / 100 if unit == "cents" else Decimal(value)
        text = _fixed(abs(amount), 2)  # type: ignore[arg-type]
        return ("-$" if amount < 0 and text.strip("0.,") else "$") + text
    if unit == "ratio":
        return _fixed(value, 2)
    if unit == "p":
        return "<0.001" if value < 0.001 else _fixed(value, 3)
    # counts: whole numbers as such, estimated counts (incremental conversions) with one decimal
    return _fixed(value, 0 if float(value).is_integer() else 1)


def fmt_ci(low: object, high: object, unit: str) -> str:
    """A 95% interval as 'low to high', or '' when there is none."""
    if low is None or high is None:
        return ""
    return f"{fmt(low, unit)} to {fmt(high, unit)}"
