"""Dates in CRM exports: ISO timestamps and day-first D/M/YY, as SQL expressions.

Both layouts occur in one column of the same file. A value is classified by its shape
(never by trying one parser after another), then parsed from its parts, so `6/1/23` is
always the 6th of January. Two-digit years are 20YY. `1/1/00` (also written `1/1/2000`)
is the exports' "no return" sentinel.

Some exports hold ISO order dates written by a tool that read day-first text month-first
whenever the day was 12 or less (`11/2/24` became 2024-11-02 for the 11th of February).
`swap_evidence` measures this on returns, whose return date (always day-first text) must
not precede the order date; the importer decides from it and reports the evidence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import duckdb

IsoDayMonth = Literal["auto", "as-written", "swapped"]

_ISO = r"([0-9]{4})-([0-9]{2})-([0-9]{2})([ T]([0-9]{2}):([0-9]{2})(:([0-9]{2})(\.[0-9]{1,6})?)?)?"
_DMY = r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4}|[0-9]{2})( ([0-9]{1,2}):([0-9]{2})(:([0-9]{2}))?)?"
SENTINEL_DATE = "2000-01-01"  # what 1/1/00 parses to
FORMATS_HINT = "ISO 'YYYY-MM-DD HH:MM:SS' or day-first 'D/M/YY HH:MM'"

# Minimum number of checkable returns before the ISO day/month layout is judged from data.
MIN_SWAP_EVIDENCE = 20


def shape_sql(v: str) -> str:
    """'iso', 'dmy', or NULL when the text has neither shape."""
    return (
        f"CASE WHEN regexp_full_match({v}, '{_ISO}') THEN 'iso' "
        f"WHEN regexp_full_match({v}, '{_DMY}') THEN 'dmy' END"
    )


def _stamp(y: str, m: str, d: str, hh: str, mi: str, ss: str) -> str:
    """A TIMESTAMP from text parts; NULL when the parts are not a real calendar time."""
    parts = ", ".join(f"TRY_CAST(coalesce(nullif({p}, ''), '0') AS INTEGER)" for p in (y, m, d))
    times = ", ".join(f"TRY_CAST(coalesce(nullif({p}, ''), '0') AS INTEGER)" for p in (hh, mi, ss))
    return (
        f"try_strptime(printf('%04d-%02d-%02d %02d:%02d:%02d', {parts}, {times}), "
        "'%Y-%m-%d %H:%M:%S')"
    )


def timestamp_sql(v: str, *, iso_swapped: bool = False) -> str:
    """SQL for the TIMESTAMP (UTC, whole seconds) a date text means; NULL if unparseable.

    With `iso_swapped`, ISO values whose day is 12 or less are read with day and month
    exchanged (see the module docstring); ISO days above 12 cannot have been swapped.
    """

    def iso(i: int) -> str:
        return f"regexp_extract({v}, '^{_ISO}$', {i})"

    def dmy(i: int) -> str:
        return f"regexp_extract({v}, '^{_DMY}$', {i})"

    dmy_year = f"CASE WHEN length({dmy(3)}) = 2 THEN '20' || {dmy(3)} ELSE {dmy(3)} END"
    iso_month, iso_day = iso(2), iso(3)
    if iso_swapped:
        low = f"TRY_CAST({iso(3)} AS INTEGER) <= 12"
        iso_month = f"CASE WHEN {low} THEN {iso(3)} ELSE {iso(2)} END"
        iso_day = f"CASE WHEN {low} THEN {iso(2)} ELSE {iso(3)} END"
    return (
        f"CASE {shape_sql(v)} "
        f"WHEN 'iso' THEN {_stamp(iso(1), iso_month, iso_day, iso(5), iso(6), iso(8))} "
        f"WHEN 'dmy' THEN {_stamp(dmy_year, dmy(2), dmy(1), dmy(5), dmy(6), dmy(8))} END"
    )


def ambiguous_iso_sql(v: str) -> str:
    """True for ISO values whose day/month reading matters (day <= 12 and day != month)."""
    day = f"TRY_CAST(regexp_extract({v}, '^{_ISO}$', 3) AS INTEGER)"
    month = f"TRY_CAST(regexp_extract({v}, '^{_ISO}$', 2) AS INTEGER)"
    return f"coalesce({shape_sql(v)} = 'iso' AND {day} <= 12 AND {day} <> {month}, false)"


@dataclass(frozen=True)
class SwapEvidence:
    """Returns dated before their own order, for ISO order dates read either way.

    `checkable`: returns with a real return date and an ISO order date whose day and month
    could be exchanged. `control_*`: the same check on all other returns (whose order date
    is day-first text or an unambiguous ISO date), which should show no impossible returns.
    """

    checkable: int
    impossible_as_written: int
    impossible_swapped: int
    control_checked: int
    control_impossible: int

    def decide(self) -> tuple[Literal["as-written", "swapped"], str]:
        """The reading the evidence supports and a sentence saying why.

        Swapped is chosen only when reading as written makes at least 5% of checkable
        returns precede their order and swapping removes (nearly) all of them.
        """
        n, bad, bad_swapped = self.checkable, self.impossible_as_written, self.impossible_swapped
        if n < MIN_SWAP_EVIDENCE:
            return "as-written", (
                f"only {n} returns can test the day/month order of ISO order dates "
                f"(at least {MIN_SWAP_EVIDENCE} needed); ISO dates read as written"
            )
        if bad >= 0.05 * n and bad_swapped <= 0.01 * n:
            return "swapped", (
                f"read as written, {bad:,} of {n:,} returns with an ambiguous ISO order date "
                f"would precede their order; with day and month exchanged {bad_swapped:,} do "
                f"(other returns: {self.control_impossible:,} of {self.control_checked:,}), "
                "so ISO order dates with day <= 12 were written month-first and are swapped back"
            )
        return "as-written", (
            f"read as written, {bad:,} of {n:,} returns with an ambiguous ISO order date "
            f"precede their order (swapped: {bad_swapped:,}); ISO dates read as written"
        )


def swap_evidence(con: duckdb.DuckDBPyConnection, relation: str) -> SwapEvidence:
    """Measure the evidence on `relation` (columns order_date, return_date as text and
    is_return_line, has_return_date booleans)."""
    order = "trim(order_date)"
    ret = timestamp_sql("trim(return_date)")
    written = timestamp_sql(order)
    swapped = timestamp_sql(order, iso_swapped=True)
    row = con.execute(
        f"""SELECT
              count(*) FILTER (WHERE amb),
              count(*) FILTER (WHERE amb AND r < w),
              count(*) FILTER (WHERE amb AND r < s),
              count(*) FILTER (WHERE NOT amb),
              count(*) FILTER (WHERE NOT amb AND r < w)
            FROM (SELECT {ambiguous_iso_sql(order)} AS amb, {ret} AS r, {written} AS w,
                         {swapped} AS s
                  FROM {relation} WHERE is_return_line AND has_return_date) AS t"""
    ).fetchall()[0]
    return SwapEvidence(*(int(x) for x in row))
