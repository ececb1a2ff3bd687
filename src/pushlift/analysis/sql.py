"""Small helpers for building portable analysis SQL safely.

User-supplied column names only ever reach SQL through `ident`, which quotes them; values
only through bound parameters or `literal` (numbers produced by pushlift itself).
"""

from __future__ import annotations

import math


def ident(name: str) -> str:
    """Quote an identifier (column or table name) for SQL."""
    return '"' + name.replace('"', '""') + '"'


def text(value: str) -> str:
    """Quote a string value produced by pushlift (e.g. an arm label read from the data)."""
    return "'" + value.replace("'", "''") + "'"


def literal(x: float) -> str:
    """A float as an exact SQL literal (repr round-trips; no locale, no rounding)."""
    if not math.isfinite(x):
        raise ValueError(f"cannot put non-finite number {x!r} into SQL")
    return f"CAST({float(x)!r} AS DOUBLE)"
