"""Spreadsheet damage in the ids of a mall export, told apart from chance.

A spreadsheet that turns an id into a number shows it as `6.03223E+11` (six significant
digits); saved like that, or typed back, the id becomes `603223000000`: its trailing
digits are lost and many consumers share one id. Honest ids end in a run of k zeros with
probability about 10^-k, so a run of zeros shared by many more ids than chance allows
marks the ids as rounded.
"""

from __future__ import annotations

import duckdb

MIN_ZEROS = 3  # shorter runs of trailing zeros are common by chance
EXCESS = 10  # a run is suspicious with at least this many times the ids chance gives


def rounded_zeros(counts: dict[int, int], n: int) -> int | None:
    """The shortest run of trailing zeros that marks rounded ids, or None.

    `counts[z]` is the number of ids ending in exactly z zeros, of `n` ids. A run z is
    suspicious when at least 2 ids, and at least EXCESS times the n * 0.9 * 10^-z that
    chance gives, end in exactly z zeros; every id with a run at least as long as the
    shortest suspicious one is taken as rounded.
    """
    suspicious = [
        z
        for z, k in counts.items()
        if z >= MIN_ZEROS and k >= 2 and k >= EXCESS * n * 0.9 * 10.0**-z
    ]
    return min(suspicious) if suspicious else None


def mark_rounded(con: duckdb.DuckDBPyConnection, relation: str) -> int | None:
    """Set `rounded` on the rows of `relation` (columns id, rounded) whose id is rounded;
    returns the run of zeros that marks them (None: no rounding found)."""
    zeros = "length(CAST(id AS VARCHAR)) - length(rtrim(CAST(id AS VARCHAR), '0'))"
    rows = con.execute(
        f"SELECT {zeros} AS z, count(*) FROM {relation} WHERE id IS NOT NULL GROUP BY z"
    ).fetchall()
    counts = {int(z): int(k) for z, k in rows}
    z_min = rounded_zeros(counts, sum(counts.values()))
    if z_min is not None:
        con.execute(f"UPDATE {relation} SET rounded = true WHERE {zeros} >= {int(z_min)}")
    return z_min
