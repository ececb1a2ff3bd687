"""Bad CRM exports: each gives one InputError naming file, row and column; nothing is written."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pushlift.errors import InputError, PushliftError
from pushlift.ingest.crm import OWNED_TABLES, import_crm
from pushlift.ingest.crm_columns import parse_column_map
from pushlift.store import Store

SALES_HEADER = (
    "phone_encoded,Customer_id_encoded,Amount_Including_VAT,Order_Date,Return_Date,"
    "location_encoded,transaction_id_encoded\n"
)
SALES = SALES_HEADER + """11,101,50.5,2024-03-05 00:00:00,1/1/00 00:00,L1,t1
11,101,-50.5,2024-03-05 00:00:00,9/3/24 00:00,L1,t1
11,101,20,13/4/24 00:00,1/1/00 00:00,L1,t2
11,101,20,13/4/24 00:00,1/1/00 00:00,L1,t2
12,102,,6/1/24 00:00,1/1/00 00:00,L2,t3
"""
MESSAGES_HEADER = (
    "phone_encoded,number_of_messages,has_response,id of conversation,date_of_communication,"
    "location_encoded\n"
)
MESSAGES = MESSAGES_HEADER + """11,3,TRUE,c1,2024-03-01 10:00:00,L1
12,1,FALSE,c2,2024-01-02 09:30:00,L2
"""
NOW = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "t.duckdb")
    yield s
    s.close()


def write(tmp_path: Path, sales: str | bytes = SALES, messages: str | bytes = MESSAGES):
    paths = tmp_path / "sales.csv", tmp_path / "outbound.csv"
    for path, content in zip(paths, (sales, messages), strict=True):
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return paths


def counts(store: Store) -> dict[str, int]:
    return {t: store.con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]
            for t in OWNED_TABLES}


def test_small_good_import(tmp_path: Path, store: Store) -> None:
    s, m = write(tmp_path)
    r = import_crm(store, s, m, now=NOW)
    q = r.quality.sales
    assert (q.rows_read, q.rows_kept, q.dropped_exact_duplicate, q.dropped_missing_amount) == (
        5, 3, 1, 1)
    assert q.returns_matched_line == 1 and q.order_date_dmy == 1 and q.order_date_iso == 2
    assert r.conversations == 2
    # Too few returns to judge the ISO layout: read as written, and said so.
    assert r.quality.iso_reading == "as-written" and "only 1 returns" in r.quality.iso_reason
    assert store.con.execute(
        "SELECT line_no, amount_cents, CAST(order_time AS DATE), matched_line_no "
        "FROM crm_sale_line ORDER BY line_no"
    ).fetchall() == [
        (2, 5050, datetime(2024, 3, 5).date(), None),
        (3, -5050, datetime(2024, 3, 5).date(), 2),
        (4, 2000, datetime(2024, 4, 13).date(), None),
    ]
    assert store.con.execute(
        "SELECT transaction_key, gross_cents, returned_cents, net_cents FROM crm_transaction "
        "ORDER BY 1"
    ).fetchall() == [("t1", 5050, 5050, 0), ("t2", 2000, 0, 2000)]
    # A second import of the same dataset needs --replace.
    with pytest.raises(PushliftError, match="--replace"):
        import_crm(store, s, m, now=NOW)
    import_crm(store, s, m, now=NOW, replace=True)
    assert counts(store)["crm_sale_line"] == 3


def test_column_mapping_for_another_vendor(tmp_path: Path, store: Store) -> None:
    renamed = SALES.replace("Amount_Including_VAT", "Total").replace("Order_Date", "Sold On")
    s, m = write(tmp_path, renamed, MESSAGES.replace("has_response", "replied"))
    maps = parse_column_map(["amount=Total", "sales.order_date=Sold On", "has_response=replied"])
    r = import_crm(store, s, m, now=NOW, column_map=maps)
    assert r.sale_lines == 3
    # Without the map: the missing column is named, with a hint about --map.
    store2 = Store.open(":memory:")
    with pytest.raises(InputError) as e:
        import_crm(store2, s, m, now=NOW)
    assert e.value.row == 1 and e.value.column == "Amount_Including_VAT, Order_Date"
    assert "--map canonical=column" in str(e.value)
    with pytest.raises(PushliftError, match="unknown column 'amt'"):
        parse_column_map(["amt=Total"])


def _bad(tmp_path: Path, store: Store, sales: str | bytes = SALES,
         messages: str | bytes = MESSAGES) -> InputError:
    s, m = write(tmp_path, sales, messages)
    with pytest.raises(InputError) as e:
        import_crm(store, s, m, now=NOW)
    assert counts(store) == dict.fromkeys(OWNED_TABLES, 0)  # nothing half-written
    return e.value


def _sales_line(n: int, new: str) -> str:
    lines = SALES.splitlines()
    lines[n - 1] = new
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("which", "content", "row", "column", "text"),
    [
        ("sales", "", 1, None, "the file is empty"),
        ("sales", SALES.splitlines()[0] + "\n", 1, None, "only a header"),
        ("messages", MESSAGES.splitlines()[0] + "\n", 1, None, "only a header"),
        ("sales", SALES.replace("Return_Date,", ""), 1, "Return_Date", "missing required column"),
        ("sales", _sales_line(3, "11,101,abc,2024-03-05 00:00:00,1/1/00 00:00,L1,t1"), 3,
         "Amount_Including_VAT", "plain decimal number"),
        ("sales", _sales_line(4, "11,101,20,2024/04/13,1/1/00 00:00,L1,t2"), 4,
         "Order_Date", "unrecognised date '2024/04/13'"),
        ("sales", _sales_line(4, "11,101,20,31/2/24 00:00,1/1/00 00:00,L1,t2"), 4,
         "Order_Date", "not a calendar date"),
        ("sales", _sales_line(4, "11,101,20,13/4/25 00:00,1/1/00 00:00,L1,t2"), 4,
         "Order_Date", "is in the future"),
        ("sales", _sales_line(3, "11,101,-50.5,2024-03-05 00:00:00,9/3/26 00:00,L1,t1"), 3,
         "Return_Date", "is in the future"),
        ("sales", _sales_line(2, ",101,50.5,2024-03-05 00:00:00,1/1/00 00:00,L1,t1"), 2,
         "phone_encoded", "phone_encoded is empty"),
        ("messages", MESSAGES.replace("11,3,TRUE", "11,three,TRUE"), 2,
         "number_of_messages", "whole number of messages"),
        ("messages", MESSAGES.replace("12,1,FALSE", "12,1,maybe"), 3,
         "has_response", "TRUE or FALSE"),
        ("messages", MESSAGES.replace("2024-01-02 09:30:00", "2026-01-02 09:30:00"), 3,
         "date_of_communication", "is in the future"),
        ("messages", MESSAGES.replace("c2", "c1"), 3, "id of conversation",
         "conversation id c1 is used by rows 2 and 3"),
    ],
)
def test_bad_values_name_file_row_and_column(
    tmp_path: Path, store: Store, which: str, content: str, row: int, column: str | None,
    text: str,
) -> None:
    kwargs = {"sales": content} if which == "sales" else {"messages": content}
    e = _bad(tmp_path, store, **kwargs)
    expected_file = "sales.csv" if which == "sales" else "outbound.csv"
    assert e.file.endswith(expected_file)
    assert (e.row, e.column) == (row, column)
    assert text in str(e)
    assert str(e).startswith(e.file)


def test_non_utf8_bytes(tmp_path: Path, store: Store) -> None:
    bad = SALES.replace("L2,t3", "L\xe92,t3").encode("latin-1")
    e = _bad(tmp_path, store, sales=bad)
    assert (e.row, e.column) == (6, "location_encoded")
    assert "not UTF-8" in str(e)


def test_missing_file(tmp_path: Path, store: Store) -> None:
    with pytest.raises(InputError, match="file not found"):
        import_crm(store, tmp_path / "nope.csv", tmp_path / "nope2.csv", now=NOW)
    assert counts(store) == dict.fromkeys(OWNED_TABLES, 0)
