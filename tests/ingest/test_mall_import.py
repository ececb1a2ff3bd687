"""Importing the mall operator's export: good files, a simulator round trip, every error."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pushlift.errors import InputError, PushliftError
from pushlift.ingest.mall import MallImportSummary, import_mall
from pushlift.sim.mall import EXPERIMENT_ID, MallModel, export_tables, simulate_week, write_week
from pushlift.store import Store

CONSUMERS = """consumer_id,age,gender,loyalty_status
101,25,F,1
102,34,M,2
103,61,F,2
104,18,M,1
"""
PURCHASES = """consumer_id,from_second_store_sales,realtime_message
101,12.30,1
102,0.00,0
103,0.07,1
104,1234567.89,1
"""
OWNED_TABLES = ("experiment", "mall_consumer", "assignment", "mall_outcome")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "t.duckdb")
    yield s
    s.close()


def write(tmp_path: Path, consumers: str | bytes = CONSUMERS,
          purchases: str | bytes = PURCHASES) -> tuple[Path, Path]:
    """Write the two export files; bytes are written as is (for encoding tests)."""
    paths = tmp_path / "consumer.csv", tmp_path / "purchase.csv"
    for path, content in zip(paths, (consumers, purchases), strict=True):
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return paths


def counts(store: Store) -> dict[str, int]:
    return {t: store.con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]
            for t in OWNED_TABLES}


def units(store: Store, experiment_id: str) -> list[tuple[object, ...]]:
    return store.con.execute(
        """SELECT consumer_id, arm, age, gender, loyalty, from_second_store_sales
           FROM mall_units WHERE experiment_id = ? ORDER BY consumer_id""",
        [experiment_id],
    ).fetchall()


def test_good_import_writes_every_table(tmp_path: Path, store: Store) -> None:
    # Padded header names, an extra column and padded values are all accepted.
    consumers = (" consumer_id ,age,gender,loyalty_status,email\n"
                 + "".join(line + ",x@y.z\n" for line in CONSUMERS.splitlines()[1:]))
    c, p = write(tmp_path, consumers.replace("102,34", " 102 ,34"))
    summary = import_mall(store, c, p)

    assert summary == MallImportSummary(
        experiment_id="mall-import", consumers=4, treated=3, control=1,
        total_sales_cents=1230 + 0 + 7 + 123456789, files=(str(c), str(p)),
    )
    assert store.con.execute(
        "SELECT consumer_id, from_second_store_sales_cents FROM mall_outcome ORDER BY 1"
    ).fetchall() == [(101, 1230), (102, 0), (103, 7), (104, 123456789)]
    assert units(store, "mall-import") == [
        (101, "message", 25, "F", "low", 12.30),
        (102, "control", 34, "M", "high", 0.0),
        (103, "message", 61, "F", "high", 0.07),
        (104, "message", 18, "M", "low", 1234567.89),
    ]
    experiment = store.con.execute(
        "SELECT control_arm, arms, weights, source FROM experiment"
    ).fetchall()
    assert experiment == [
        ("control", ["control", "message"], [0.5, 0.5], "imported:consumer.csv,purchase.csv")
    ]


def test_sales_cents_are_exact(tmp_path: Path, store: Store) -> None:
    # Values whose float x100 is not an integer (0.29 * 100 = 28.999...) must stay exact.
    sales = ["0.29", "1.1", "5", ".5", "4.35", "9999999999.99"]
    ids = range(1, len(sales) + 1)
    c, p = write(
        tmp_path,
        "consumer_id,age,gender,loyalty_status\n" + "".join(f"{i},40,F,1\n" for i in ids),
        "consumer_id,from_second_store_sales,realtime_message\n"
        + "".join(f"{i},{s},0\n" for i, s in zip(ids, sales, strict=True)),
    )
    summary = import_mall(store, c, p)
    cents = [r[0] for r in store.con.execute(
        "SELECT from_second_store_sales_cents FROM mall_outcome ORDER BY consumer_id"
    ).fetchall()]
    assert cents == [29, 110, 500, 50, 435, 999999999999]
    assert summary.total_sales_cents == sum(cents)
    assert (summary.treated, summary.control) == (0, 6)


def test_bom_crlf_and_trailing_blank_lines_are_accepted(tmp_path: Path, store: Store) -> None:
    c, p = write(
        tmp_path,
        b"\xef\xbb\xbf" + CONSUMERS.replace("\n", "\r\n").encode() + b"\r\n\r\n",
        PURCHASES + "\n\n",
    )
    assert import_mall(store, c, p).consumers == 4


def test_round_trip_through_the_simulator_export(tmp_path: Path) -> None:
    model = MallModel()
    sim = Store.open(tmp_path / "sim.duckdb")
    imported = Store.open(tmp_path / "t.duckdb")
    try:
        write_week(sim, simulate_week(500, 7, model), model, replace=False)
        c, p = export_tables(sim, str(tmp_path / "export"))
        summary = import_mall(imported, c, p, experiment_id=EXPERIMENT_ID)
        expected = units(sim, EXPERIMENT_ID)
        assert len(expected) == 500
        assert units(imported, EXPERIMENT_ID) == expected
        assert summary.consumers == 500
        assert summary.treated == sum(1 for u in expected if u[1] == "message")
        assert summary.total_sales_cents == sim.con.execute(
            "SELECT sum(from_second_store_sales_cents) FROM mall_outcome"
        ).fetchall()[0][0]
    finally:
        sim.close()
        imported.close()


def _replace_line(text: str, line: int, new: str) -> str:
    """`text` with its 1-based `line` replaced by `new`."""
    lines = text.splitlines()
    lines[line - 1] = new
    return "\n".join(lines) + "\n"


# (file that fails, consumer text, purchase text, row, column, words the message must contain)
ERROR_CASES = {
    "missing columns named together": (
        "consumer.csv", "consumer_id,loyalty_status\n101,1\n", PURCHASES, 1,
        "age, gender", ["age", "gender"],
    ),
    "semicolon separator": (
        "consumer.csv", CONSUMERS.replace(",", ";"), PURCHASES, 1,
        "consumer_id, age, gender, loyalty_status", ["';'"],
    ),
    "scientific notation id": (
        "consumer.csv", _replace_line(CONSUMERS, 3, "1.23457E+11,34,M,2"), PURCHASES, 3,
        "consumer_id", ["spreadsheet", "precision"],
    ),
    "short scientific notation id": (
        "purchase.csv", CONSUMERS, _replace_line(PURCHASES, 4, "1e5,0.07,1"), 4,
        "consumer_id", ["spreadsheet", "precision"],
    ),
    "non-integer id": (
        "consumer.csv", _replace_line(CONSUMERS, 2, "abc,25,F,1"), PURCHASES, 2,
        "consumer_id", ["positive integer", "'abc'"],
    ),
    "negative id": (
        "consumer.csv", _replace_line(CONSUMERS, 2, "-101,25,F,1"), PURCHASES, 2,
        "consumer_id", ["positive integer"],
    ),
    "zero id": (
        "consumer.csv", _replace_line(CONSUMERS, 5, "0,18,M,1"), PURCHASES, 5,
        "consumer_id", ["positive integer"],
    ),
    "empty id": (
        "purchase.csv", CONSUMERS, _replace_line(PURCHASES, 2, ",12.30,1"), 2,
        "consumer_id", ["empty"],
    ),
    "age too low": (
        "consumer.csv", _replace_line(CONSUMERS, 5, "104,17,M,1"), PURCHASES, 5, "age",
        ["18..100"],
    ),
    "age too high": (
        "consumer.csv", _replace_line(CONSUMERS, 5, "104,101,M,1"), PURCHASES, 5, "age",
        ["18..100"],
    ),
    "age not a number": (
        "consumer.csv", _replace_line(CONSUMERS, 3, "102,thirty,M,2"), PURCHASES, 3, "age",
        ["whole number"],
    ),
    "unknown gender code": (
        "consumer.csv", _replace_line(CONSUMERS, 4, "103,61,X,2"), PURCHASES, 4, "gender",
        ["'X'", "'F'", "'M'"],
    ),
    "gender word not allowed": (
        "consumer.csv", _replace_line(CONSUMERS, 4, "103,61,woman,2"), PURCHASES, 4, "gender",
        ["'woman'", "'F'", "'M'", "Female or Male (any case)"],
    ),
    "loyalty out of range": (
        "consumer.csv", _replace_line(CONSUMERS, 2, "101,25,F,3"), PURCHASES, 2,
        "loyalty_status", ["1 (low) or 2 (high)"],
    ),
    "negative sales": (
        "purchase.csv", CONSUMERS, _replace_line(PURCHASES, 3, "102,-5.00,0"), 3,
        "from_second_store_sales", ["impossible value", "negative"],
    ),
    "missing sales": (
        "purchase.csv", CONSUMERS, _replace_line(PURCHASES, 5, "104,,1"), 5,
        "from_second_store_sales", ["missing", "imputed"],
    ),
    "sales with three decimals": (
        "purchase.csv", CONSUMERS, _replace_line(PURCHASES, 2, "101,12.345,1"), 2,
        "from_second_store_sales", ["2 decimals"],
    ),
    "sales with a currency symbol": (
        "purchase.csv", CONSUMERS, _replace_line(PURCHASES, 2, "101,$12.30,1"), 2,
        "from_second_store_sales", ["plain decimal", "'$12.30'"],
    ),
    "realtime_message not 0 or 1": (
        "purchase.csv", CONSUMERS, _replace_line(PURCHASES, 4, "103,0.07,2"), 4,
        "realtime_message", ["0 (control) or 1"],
    ),
    "duplicate id in consumer file": (
        "consumer.csv", CONSUMERS + "102,50,F,1\n", PURCHASES, 3, "consumer_id",
        ["duplicate consumer_id 102", "rows 3 and 6", "consumer_id repeated — 2 rows"],
    ),
    "duplicate id in purchase file": (
        "purchase.csv", CONSUMERS, _replace_line(PURCHASES, 5, "101,1.00,0"), 2,
        "consumer_id", ["duplicate consumer_id 101", "rows 2 and 5",
                        "consumer without a purchase row — 1 row in consumer.csv"],
    ),
    "consumers without a purchase row": (
        "consumer.csv", CONSUMERS + "105,40,F,1\n106,41,M,2\n", PURCHASES, 6, "consumer_id",
        ["consumer_id 105", "purchase.csv", "consumer without a purchase row — 2 rows", "row 7"],
    ),
    "purchase rows without a consumer": (
        "purchase.csv", CONSUMERS, PURCHASES + "999,1.00,1\n", 6, "consumer_id",
        ["consumer_id 999", "consumer.csv", "purchase row without a consumer — 1 row"],
    ),
    "blank line inside the file": (
        "consumer.csv", _replace_line(CONSUMERS, 3, ""), PURCHASES, 3, "consumer_id",
        ["blank"],
    ),
    "not UTF-8": (
        "consumer.csv", CONSUMERS.encode() + "105,40,É,1\n".encode("latin-1"), PURCHASES, 6,
        "gender", ["UTF-8"],
    ),
}


@pytest.mark.parametrize("case", ERROR_CASES.values(), ids=ERROR_CASES.keys())
def test_bad_input_names_file_row_and_column_and_writes_nothing(
    tmp_path: Path, store: Store, case: tuple[str, str | bytes, str, int, str, list[str]]
) -> None:
    file, consumers, purchases, row, column, words = case
    c, p = write(tmp_path, consumers, purchases)
    with pytest.raises(InputError) as raised:
        import_mall(store, c, p)
    err = raised.value
    message = str(err)
    assert (Path(err.file).name, err.row, err.column) == (file, row, column)
    assert file in message and f"row {row}" in message and f"column {column!r}" in message
    for word in words:
        assert word in message
    assert counts(store) == dict.fromkeys(OWNED_TABLES, 0)


def test_wrong_number_of_fields_names_the_row(tmp_path: Path, store: Store) -> None:
    c, p = write(tmp_path, CONSUMERS, _replace_line(PURCHASES, 4, "103,0.07"))
    with pytest.raises(InputError) as raised:
        import_mall(store, c, p)
    assert (Path(raised.value.file).name, raised.value.row) == ("purchase.csv", 4)
    assert "purchase.csv, row 4" in str(raised.value)
    assert "2 field(s) but the header has 3" in str(raised.value)
    assert counts(store) == dict.fromkeys(OWNED_TABLES, 0)


@pytest.mark.parametrize(
    ("consumers", "row", "words"),
    [
        (None, None, "file not found"),
        ("", 1, "empty"),
        ("consumer_id,age,gender,loyalty_status\n", 1, "only a header"),
        ("consumer_id,age,gender,loyalty_status\r\n\r\n", 1, "only a header"),
    ],
    ids=["missing", "empty", "header only", "header and blank lines"],
)
def test_unusable_file_is_reported(
    tmp_path: Path, store: Store, consumers: str | None, row: int | None, words: str
) -> None:
    c, p = write(tmp_path, consumers or "", PURCHASES)
    if consumers is None:
        c.unlink()
    with pytest.raises(InputError) as raised:
        import_mall(store, c, p)
    assert (Path(raised.value.file).name, raised.value.row) == ("consumer.csv", row)
    assert "consumer.csv" in str(raised.value) and words in str(raised.value)
    assert counts(store) == dict.fromkeys(OWNED_TABLES, 0)


def test_directory_instead_of_file_is_unreadable(tmp_path: Path, store: Store) -> None:
    _, p = write(tmp_path)
    with pytest.raises(InputError, match="cannot read the file"):
        import_mall(store, tmp_path, p)
    assert counts(store) == dict.fromkeys(OWNED_TABLES, 0)


def test_first_bad_row_wins_across_columns(tmp_path: Path, store: Store) -> None:
    # Row 3 has a bad gender, row 4 a bad id: the earlier row is reported.
    consumers = _replace_line(_replace_line(CONSUMERS, 4, "1e5,61,F,2"), 3, "102,34,Q,2")
    c, p = write(tmp_path, consumers)
    with pytest.raises(InputError) as raised:
        import_mall(store, c, p)
    assert (raised.value.row, raised.value.column) == (3, "gender")


def test_existing_experiment_needs_replace(tmp_path: Path, store: Store) -> None:
    c, p = write(tmp_path)
    import_mall(store, c, p)
    with pytest.raises(PushliftError, match="--replace"):
        import_mall(store, c, p)
    assert counts(store) == dict.fromkeys(OWNED_TABLES, 4) | {"experiment": 1}


def test_replace_rewrites_the_experiment(tmp_path: Path, store: Store) -> None:
    c, p = write(tmp_path)
    import_mall(store, c, p)
    # Fewer consumers, changed covariates, arm and sales for the ones that stay.
    c, p = write(
        tmp_path,
        "consumer_id,age,gender,loyalty_status\n101,26,M,2\n103,62,F,1\n",
        "consumer_id,from_second_store_sales,realtime_message\n101,1.00,0\n103,2.50,1\n",
    )
    summary = import_mall(store, c, p, replace=True)
    assert (summary.consumers, summary.treated, summary.total_sales_cents) == (2, 1, 350)
    assert units(store, "mall-import") == [
        (101, "control", 26, "M", "high", 1.0),
        (103, "message", 62, "F", "low", 2.5),
    ]
    # Nothing of the replaced import remains.
    assert counts(store) == {"experiment": 1, "mall_consumer": 2, "assignment": 2,
                             "mall_outcome": 2}


def test_failed_replace_keeps_the_old_experiment(tmp_path: Path, store: Store) -> None:
    c, p = write(tmp_path)
    import_mall(store, c, p)
    before = units(store, "mall-import")
    c, p = write(tmp_path, CONSUMERS, _replace_line(PURCHASES, 2, "101,-1,1"))
    with pytest.raises(InputError):
        import_mall(store, c, p, replace=True)
    assert units(store, "mall-import") == before


def test_consumers_shared_with_another_experiment_stay_apart(
    tmp_path: Path, store: Store
) -> None:
    c, p = write(tmp_path)
    import_mall(store, c, p, experiment_id="week-1")
    week_1 = units(store, "week-1")
    c, p = write(
        tmp_path,
        "consumer_id,age,gender,loyalty_status\n101,26,F,2\n200,30,M,1\n",
        "consumer_id,from_second_store_sales,realtime_message\n101,3.00,0\n200,0,1\n",
    )
    import_mall(store, c, p, experiment_id="week-2")
    # Each experiment keeps the covariates of its own export, even for a shared id.
    assert units(store, "week-1") == week_1
    assert units(store, "week-2") == [
        (101, "control", 26, "F", "high", 3.0),
        (200, "message", 30, "M", "low", 0.0),
    ]
    assert store.con.execute(
        "SELECT experiment_id, consumer_id, age FROM mall_consumer ORDER BY 2, 1"
    ).fetchall() == [("week-1", 101, 25), ("week-2", 101, 26), ("week-1", 102, 34),
                     ("week-1", 103, 61), ("week-1", 104, 18), ("week-2", 200, 30)]
