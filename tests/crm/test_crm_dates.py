"""Date texts of CRM exports: shapes, day-first parsing, the sentinel and the ISO swap."""

from __future__ import annotations

import duckdb
import pytest

from pushlift.ingest.crm_dates import SwapEvidence, shape_sql, timestamp_sql


def parse(text: str, swapped: bool = False) -> tuple[str | None, str | None]:
    """(shape, parsed timestamp as text) of one value."""
    con = duckdb.connect()
    con.execute("CREATE OR REPLACE TEMP TABLE d AS SELECT CAST(? AS VARCHAR) AS v", [text])
    return con.execute(
        f"SELECT {shape_sql('v')}, CAST({timestamp_sql('v', iso_swapped=swapped)} AS VARCHAR) "
        "FROM d"
    ).fetchall()[0]  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("text", "shape", "parsed"),
    [
        ("13/1/25 00:00", "dmy", "2025-01-13 00:00:00"),
        ("6/1/23 00:00", "dmy", "2023-01-06 00:00:00"),  # day first: 6 January
        ("1/1/00 00:00", "dmy", "2000-01-01 00:00:00"),  # the 'no return' sentinel
        ("1/1/2000 0:00", "dmy", "2000-01-01 00:00:00"),
        ("5/6/2024 7:05", "dmy", "2024-06-05 07:05:00"),
        ("24/12/23", "dmy", "2023-12-24 00:00:00"),
        ("2024-01-04 16:26:49", "iso", "2024-01-04 16:26:49"),
        ("2024-03-05T10:11", "iso", "2024-03-05 10:11:00"),
        ("2024-03-05", "iso", "2024-03-05 00:00:00"),
        ("31/2/24 00:00", "dmy", None),  # the right shape, not a calendar date
        ("2024/03/05", None, None),
        ("March 5, 2024", None, None),
    ],
)
def test_parse(text: str, shape: str | None, parsed: str | None) -> None:
    assert parse(text) == (shape, parsed)


def test_swapped_reading_only_touches_ambiguous_iso_days() -> None:
    assert parse("2024-11-02 00:00:00", swapped=True)[1] == "2024-02-11 00:00:00"
    assert parse("2024-11-13 00:00:00", swapped=True)[1] == "2024-11-13 00:00:00"
    assert parse("2/11/24 00:00", swapped=True)[1] == "2024-11-02 00:00:00"


def test_swap_decision_rules() -> None:
    assert SwapEvidence(927, 503, 0, 6654, 0).decide()[0] == "swapped"
    assert SwapEvidence(927, 0, 400, 6654, 0).decide()[0] == "as-written"
    assert SwapEvidence(10, 10, 0, 50, 0).decide()[0] == "as-written"  # too little evidence
    # Impossible returns either way: not swapped (and the reason says so).
    reading, reason = SwapEvidence(927, 300, 200, 6654, 0).decide()
    assert reading == "as-written" and "swapped: 200" in reason
