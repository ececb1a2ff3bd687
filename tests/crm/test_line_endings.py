"""CRM exports with old-Mac line endings (a lone CR) import exactly like LF ones (they
once gave a traceback, then a wrong "quoted value spans several lines")."""

from __future__ import annotations

from pathlib import Path

from pushlift.ingest.crm import import_crm
from pushlift.store import Store

MERCAUX = Path(__file__).resolve().parents[3] / "shared" / "data" / "mercaux"


def _head(source: Path, target: Path, lines: int, ending: bytes) -> Path:
    rows = source.read_bytes().replace(b"\r\n", b"\n").split(b"\n")[:lines]
    target.write_bytes(ending.join(rows) + ending)
    return target


def test_cr_only_exports_import_like_lf_ones(tmp_path: Path) -> None:
    counts = []
    for name, ending in (("lf", b"\n"), ("cr", b"\r"), ("crlf", b"\r\n")):
        sales = _head(MERCAUX / "sales.csv", tmp_path / f"sales_{name}.csv", 300, ending)
        messages = _head(MERCAUX / "outbound.csv", tmp_path / f"out_{name}.csv", 80, ending)
        store = Store.open(tmp_path / f"{name}.duckdb")
        try:
            result = import_crm(store, sales, messages)
            lines = store.con.execute(
                "SELECT count(*), sum(line_no) FROM crm_sale_line"
            ).fetchall()[0]
        finally:
            store.close()
        counts.append((result.sale_lines, result.conversations, lines))
    assert counts[0] == counts[1] == counts[2]
    assert counts[0][0] > 250 and counts[0][1] > 70
