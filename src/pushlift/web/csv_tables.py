"""CSV twins of the dashboard's tables: `/api/NAME.csv?table=KEY` gives the rows of the JSON
twin's list `KEY` (an analyst's spreadsheet wants the table, not the page). Text that a
spreadsheet would read as a formula is written with a leading apostrophe.

A table is a top-level list of flat rows; a list of rows that each hold one list of flat
rows (an experiment's looks) is flattened to `KEY.CHILD`, each child row led by its
parent's fields. Values are written as the JSON twin has them (exact numbers; null is
empty).
"""

from __future__ import annotations

import csv
import io
from typing import Any

from pushlift.errors import PushliftError


def _flat(row: object) -> bool:
    return isinstance(row, dict) and not any(isinstance(v, dict | list) for v in row.values())


def tables(data: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Every table of a page's JSON twin, by name."""
    out: dict[str, list[dict[str, Any]]] = {}
    for key, value in data.items():
        if not isinstance(value, list) or not value or not all(isinstance(r, dict) for r in value):
            continue
        if all(_flat(r) for r in value):
            out[key] = value
            continue
        children = {k for r in value for k, v in r.items() if isinstance(v, list)}
        if len(children) != 1:
            continue
        (child,) = children
        rows = []
        for parent in value:
            lead = {k: v for k, v in parent.items() if not isinstance(v, dict | list)}
            rows += [lead | r for r in parent.get(child) or [] if _flat(r)]
        if rows:
            out[f"{key}.{child}"] = rows
    return out


def to_csv(data: dict[str, Any], table: str | None) -> tuple[str, str]:
    """The CSV text of `table` (the first table when None) and its name; PushliftError when
    the page has no such table."""
    found = tables(data)
    if not found:
        raise PushliftError("this page has no table")
    name = table if table is not None else next(iter(found))
    if name not in found:
        raise PushliftError(f"no table {name!r} on this page; its tables: {', '.join(found)}")
    rows = found[name]
    columns = list(dict.fromkeys(k for r in rows for k in r))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for r in rows:
        writer.writerow([_cell(r.get(c)) for c in columns])
    return out.getvalue(), name


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value[:1] in FORMULA_STARTS:
        # A spreadsheet would run "=HYPERLINK(...)" from a vendor's name: text stays text.
        return "'" + value
    return repr(value) if isinstance(value, float) else str(value)


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
