"""A corpus of malformed event inputs for `pushlift run` (issue 12): every case once gave a
traceback, read another file or named no place. Each must be refused with one message naming
the file, the line or row and the field; exit code 2 from the CLI, no traceback; and the
store unchanged (no rows added; no store file left when there was none before).

Named cases run through the real CLI in a subprocess (a handful) and through `read_events`
(all); hypothesis then damages valid files (random bytes, truncation, wrong types, huge
numbers, odd encodings and line ends) for the Python functions.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web.process import PUSHLIFT  # tests/ is on sys.path

from pushlift.engine.stream import COLUMNS, read_events
from pushlift.errors import InputError
from pushlift.store import Store

CONFIG = {
    "vendors": [{"id": "v1", "domain": "v1.example"}],
    "zones": [{"id": "z1", "circle": {"lat": 40.0, "lon": -3.7, "radius_m": 500}}],
    "offers": [{"id": "o1", "vendor": "v1", "content": "hi", "zone": "z1", "max_bid_cents": 9}],
}
T = "2026-01-01T10:00:00Z"


def ping(event_id: int, **change: object) -> dict[str, object]:
    return {"event_id": event_id, "kind": "location", "subscriber_id": 3, "time": T,
            "lat": 40.0, "lon": -3.7} | change  # fmt: skip


def lines(*records: object) -> bytes:
    return b"".join(
        (r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in records
    )


def csv_bytes(rows: list[list[str]], header: list[str] | None = None, end: str = "\n") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=end)
    writer.writerow(header or ["event_id", "kind", "subscriber_id", "time", "lat", "lon"])
    writer.writerows(rows)
    return out.getvalue().encode()


def row(event_id: int, time: str = T, lat: str = "40.0") -> list[str]:
    return [str(event_id), "location", "3", time, lat, "-3.7"]


def parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


def good_table(**columns: pa.Array) -> pa.Table:
    base = {
        "event_id": pa.array([1, 2], pa.int64()),
        "kind": pa.array(["location", "location"]),
        "subscriber_id": pa.array([3, 3], pa.int64()),
        "time": pa.array([T, T]),
        "lat": pa.array([40.0, 40.0]),
        "lon": pa.array([-3.7, -3.7]),
    }
    return pa.table(base | columns)


# name: (file name, content, row, column): the place the message must name.
CASES: dict[str, tuple[str, bytes, int | None, str | None]] = {
    "time in year 9999": ("e.ndjson", lines(ping(1), ping(2, time="9999-12-31T00:00:00Z")),
                          2, "time"),
    "time in year 1": ("e.ndjson", lines(ping(1, time="0001-01-01T00:00:00Z")), 1, "time"),
    "time 9999 in CSV": ("e.csv", csv_bytes([row(1), row(2, "9999-12-31")]), 3, "time"),
    "time 0001 in CSV": ("e.csv", csv_bytes([row(1, "0001-01-01T00:00:00+01:00")]), 2, "time"),
    "time before 1970": ("e.ndjson", lines(ping(1, time="1969-12-31T23:59:59Z")), 1, "time"),
    "time after 2200": ("e.ndjson", lines(ping(1, time="2201-01-01T00:00:00Z")), 1, "time"),
    "JSON nested deeply": ("e.ndjson", lines(ping(1), b"[" * 100_000), 2, None),
    "an integer of 5000 digits": ("e.ndjson",
                                  lines(b'{"event_id": ' + b"9" * 5000 + b"}"), 1, None),
    "id of 30 digits": ("e.ndjson", lines(ping(10**29)), 1, "event_id"),
    "id beyond 2^63-1": ("e.csv", csv_bytes([row(2**63)]), 2, "event_id"),
    "negative subscriber": ("e.ndjson", lines(ping(1, subscriber_id=-3)), 1, "subscriber_id"),
    "lat NaN": ("e.ndjson", lines(ping(1), b'{"event_id": 2, "kind": "location", '
                b'"subscriber_id": 3, "time": "' + T.encode() + b'", "lat": NaN, "lon": 1}'),
                2, "lat"),
    "lon Infinity": ("e.ndjson", lines(b'{"event_id": 2, "kind": "location", "subscriber_id": 3,'
                     b' "time": "' + T.encode() + b'", "lat": 1, "lon": -Infinity}'), 1, "lon"),
    "lat 1e308 in CSV": ("e.csv", csv_bytes([row(1, lat="1e308")]), 2, "lat"),
    "lat 1e999 in CSV": ("e.csv", csv_bytes([row(1), row(2, lat="1e999")]), 3, "lat"),
    "lat nan in CSV": ("e.csv", csv_bytes([row(1, lat="nan")]), 2, "lat"),
    "amount 1e308": ("e.ndjson", lines({"event_id": 1, "kind": "purchase", "subscriber_id": 3,
                     "time": T, "vendor_id": "v1", "amount_cents": 1e308}), 1, "amount_cents"),
    "amount of 30 digits": ("e.ndjson", lines({"event_id": 1, "kind": "purchase",
                            "subscriber_id": 3, "time": T, "vendor_id": "v1",
                            "amount_cents": 10**30}), 1, "amount_cents"),
    "a list as a value": ("e.ndjson", lines(ping(1, lat=[40.0])), 1, "lat"),
    "an object as a time": ("e.ndjson", lines(ping(1, time={"t": T})), 1, "time"),
    "kind as markup": ("e.ndjson", lines(ping(1, kind="[/]")), 1, "kind"),
    "not UTF-8 in a value": ("e.ndjson", lines(b'{"event_id": 1, "kind": "site_visit", '
                             b'"subscriber_id": 3, "time": "' + T.encode() +
                             b'", "domain": "caf\xe9.example"}'), 1, "domain"),
    "not UTF-8 in CSV": ("e.csv", csv_bytes([row(1)]) + b"2,location,3,\xff,1,1\n", 3, "time"),
    "UTF-16 NDJSON": ("e.ndjson", lines(ping(1)).decode().encode("utf-16"), 1, None),
    "truncated line": ("e.ndjson", lines(ping(1), b'{"event_id": 2, "kind": "loc'), 2, None),
    "unknown field": ("e.ndjson", lines(ping(1, colour="red")), 1, "colour"),
    "CR-only CSV with a bad row": ("e.csv", csv_bytes([row(1), row(2), row(3, lat="x")], end="\r"),
                                   4, "lat"),
    "CRLF CSV with a bad row": ("e.csv", csv_bytes([row(1), row(2, lat="x")], end="\r\n"),
                                3, "lat"),
    "CSV row with too many fields": ("e.csv", csv_bytes([row(1), [*row(2), "extra"]]), 3, None),
    "CSV quoted line end, then a bad row": (
        "e.csv",
        csv_bytes([row(1), ["2", "location", "3", T, "40", "-3.7"], row(3, lat="x")],
                  header=["event_id", "kind", "subscriber_id", "time", "lat", "lon"])
        .replace(b"2,location", b'"2\n",location'),
        5, "lat"),
    "CSV missing a required column": ("e.csv", csv_bytes([["1", "location", "3", "40", "1"]],
                                      header=["event_id", "kind", "subscriber_id", "lat", "lon"]),
                                      None, "time"),
    "CSV unterminated quote": ("e.csv", csv_bytes([row(1)]) + b'2,"location,3\n', 3, None),
    "empty CSV": ("e.csv", b"", None, None),
    "random bytes as CSV": ("e.csv", bytes(range(256)) * 4, None, None),
    "random bytes as Parquet": ("e.parquet", bytes(range(256)) * 4, None, None),
    "truncated Parquet": ("e.parquet", parquet_bytes(good_table())[:-20], None, None),
    "Parquet list column": ("e.parquet", parquet_bytes(good_table(
        lat=pa.array([[40.0], [41.0]]))), 1, "lat"),
    "Parquet struct time": ("e.parquet", parquet_bytes(good_table(
        time=pa.array([{"t": 1}, {"t": 2}]))), 1, "time"),
    "Parquet time without zone": ("e.parquet", parquet_bytes(good_table(
        time=pa.array([0, 1], pa.timestamp("us")))), 1, "time"),
    "Parquet time in year 2500": ("e.parquet", parquet_bytes(good_table(
        time=pa.array([0, 16_725_225_600 * 10**6], pa.timestamp("us", tz="UTC")))), 2, "time"),
    "Parquet time in 1969": ("e.parquet", parquet_bytes(good_table(
        time=pa.array([-1, 0], pa.timestamp("s", tz="UTC")))), 1, "time"),
    "Parquet float id": ("e.parquet", parquet_bytes(good_table(
        event_id=pa.array([1.0, 2.5]))), 2, "event_id"),
    "Parquet uint64 beyond int64": ("e.parquet", parquet_bytes(good_table(
        event_id=pa.array([1, 2**64 - 1], pa.uint64()))), 2, "event_id"),
    "Parquet bool lat": ("e.parquet", parquet_bytes(good_table(
        lat=pa.array([True, False]))), 1, "lat"),
    "Parquet decimal id with a fraction": ("e.parquet", parquet_bytes(good_table(
        event_id=pa.array([Decimal("1.00"), Decimal("2.50")], pa.decimal128(12, 2)))),
        2, "event_id"),
    "Parquet date time": ("e.parquet", parquet_bytes(good_table(
        time=pa.array([0, 1], pa.date32()))), 1, "time"),
}  # fmt: skip


def place_named(message: str, file: str, row: int | None, column: str | None) -> None:
    said = " ".join(message.split())
    assert file in said, said
    if row is not None:
        assert f"row {row}" in said, said
    if column is not None:
        assert f"column {column!r}" in said, said


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_case_is_one_error_naming_the_place(tmp_path: Path, name: str) -> None:
    file, content, row_, column = CASES[name]
    path = tmp_path / file
    path.write_bytes(content)
    with pytest.raises(InputError) as refused:
        read_events(path)
    assert refused.value.file == str(path)
    if row_ is not None:
        assert refused.value.row == row_, str(refused.value)
    if column is not None:
        assert refused.value.column == column, str(refused.value)
    place_named(str(refused.value), str(path), row_, column)


def test_unreadable_paths_are_named(tmp_path: Path) -> None:
    (tmp_path / "d.ndjson").mkdir()
    os.symlink("/proc/self/mem", tmp_path / "mem.ndjson")
    os.symlink("/dev/zero", tmp_path / "zero.csv")
    for name, message in [
        ("d.ndjson", "is a directory"),
        ("mem.ndjson", "cannot read"),
        ("zero.csv", "not a regular file"),
        ("missing.ndjson", "no such file"),
        ("e.txt", "unknown format"),
    ]:
        with pytest.raises(InputError, match=message) as refused:
            read_events(tmp_path / name)
        assert refused.value.file == str(tmp_path / name)
    with pytest.raises(InputError, match="unknown format"):
        read_events("/proc/self/mem")


def test_paths_are_literal(tmp_path: Path) -> None:
    """`ev[1].csv` is that file, not `ev1.csv` (DuckDB would have read it as a glob)."""
    (tmp_path / "ev1.csv").write_bytes(csv_bytes([row(1)]))
    (tmp_path / "ev[1].csv").write_bytes(csv_bytes([row(7), row(8)]))
    (tmp_path / "ev*.csv").write_bytes(csv_bytes([row(9)]))
    (tmp_path / "ev?.ndjson").write_bytes(lines(ping(5)))
    assert read_events(tmp_path / "ev[1].csv").event_id.tolist() == [7, 8]
    assert read_events(tmp_path / "ev*.csv").event_id.tolist() == [9]
    assert read_events(tmp_path / "ev?.ndjson").event_id.tolist() == [5]
    table = good_table()
    (tmp_path / "p[1].parquet").write_bytes(parquet_bytes(table))
    (tmp_path / "p1.parquet").write_bytes(parquet_bytes(table.slice(0, 1)))
    assert len(read_events(tmp_path / "p[1].parquet")) == 2


def test_line_ends_and_encodings_that_are_fine(tmp_path: Path) -> None:
    want = [1, 2, 3]
    for end in ("\n", "\r\n", "\r"):
        (tmp_path / "e.csv").write_bytes(csv_bytes([row(i) for i in want], end=end))
        assert read_events(tmp_path / "e.csv").event_id.tolist() == want, repr(end)
    (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbf" + csv_bytes([row(1)]))
    assert read_events(tmp_path / "bom.csv").event_id.tolist() == [1]
    (tmp_path / "semi.csv").write_bytes(csv_bytes([row(1)]).replace(b",", b";"))
    assert read_events(tmp_path / "semi.csv").event_id.tolist() == [1]
    (tmp_path / "cr.ndjson").write_bytes(lines(ping(1), ping(2)).replace(b"\n", b"\r"))
    assert read_events(tmp_path / "cr.ndjson").event_id.tolist() == [1, 2]
    (tmp_path / "header.csv").write_bytes(csv_bytes([]))
    assert len(read_events(tmp_path / "header.csv")) == 0


# --map: CSV and Parquet columns under other names.
def test_map_reads_other_column_names(tmp_path: Path) -> None:
    header = ["id", "kind", "user", "ts", "lat", "lon", "note"]
    (tmp_path / "e.csv").write_bytes(csv_bytes([[*row(1), "x"], [*row(2), "y"]], header=header))
    mapping = {"event_id": "id", "subscriber_id": "user", "time": "ts"}
    batch = read_events(tmp_path / "e.csv", mapping)
    assert batch.event_id.tolist() == [1, 2] and batch.subscriber_id.tolist() == [3, 3]
    table = good_table().rename_columns(["id", "kind", "user", "ts", "lat", "lon"])
    (tmp_path / "e.parquet").write_bytes(parquet_bytes(table))
    assert read_events(tmp_path / "e.parquet", mapping).event_id.tolist() == [1, 2]
    with pytest.raises(InputError, match="the file has no column 'usr'") as refused:
        read_events(tmp_path / "e.csv", {"subscriber_id": "usr"})
    assert refused.value.column == "usr"
    with pytest.raises(InputError, match="required column is missing"):
        read_events(tmp_path / "e.csv", {"event_id": "id"})  # time is still 'ts'
    (tmp_path / "both.csv").write_bytes(
        csv_bytes([[*row(1), "3"]], header=[*CASES_HEADER, "user"])
    )
    with pytest.raises(InputError, match="also has a column 'subscriber_id'"):
        read_events(tmp_path / "both.csv", {"subscriber_id": "user"})
    with pytest.raises(InputError, match="--map renames CSV and Parquet"):
        read_events(tmp_path / "x.ndjson", {"time": "ts"})


def test_map_errors_in_the_option() -> None:
    from pushlift.engine.stream import parse_mapping
    from pushlift.errors import PushliftError

    assert parse_mapping(["subscriber_id=user", "time = ts"]) == {
        "subscriber_id": "user",
        "time": "ts",
    }
    for bad, message in [
        (["subscriber=user"], "'subscriber' is not an event field"),
        (["time"], "expected CANONICAL=COLUMN"),
        (["time=a", "time=b"], "'time' is mapped twice"),
        (["=a"], "expected CANONICAL=COLUMN"),
    ]:
        with pytest.raises(PushliftError, match=re.escape(message)):
            parse_mapping(bad)


CASES_HEADER = ["event_id", "kind", "subscriber_id", "time", "lat", "lon"]


# The real CLI: exit code 2, no traceback, the place named, the store unchanged.
def cli(tmp: Path, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    config = tmp / "engine.json"
    config.write_text(json.dumps(CONFIG))
    return subprocess.run(
        [str(PUSHLIFT), "run", *args, "--config", str(config)],
        input=stdin, capture_output=True, cwd=tmp, timeout=300,
        env={**os.environ, "COLUMNS": "250"},
    )  # fmt: skip


def store_rows(db: Path) -> dict[str, int]:
    store = Store.open(db)
    try:
        tables = [r[0] for r in store.con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE NOT temporary").fetchall()]  # fmt: skip
        return {t: store.con.execute(f'SELECT count(*) FROM "{t}"').fetchall()[0][0]
                for t in tables}  # fmt: skip
    finally:
        store.close()


CLI_CASES = [
    "time in year 9999",
    "time 0001 in CSV",
    "JSON nested deeply",
    "CR-only CSV with a bad row",
    "kind as markup",
    "Parquet list column",
    "not UTF-8 in CSV",
]


@pytest.mark.parametrize("name", CLI_CASES)
def test_the_cli_refuses_each_and_leaves_the_store_as_it_was(tmp_path: Path, name: str) -> None:
    file, content, row_, column = CASES[name]
    (tmp_path / file).write_bytes(content)
    (tmp_path / "good.ndjson").write_bytes(lines(ping(100), ping(101)))
    # No store before: none after.
    done = cli(tmp_path, "good.ndjson", file, "--db", "new.duckdb")
    said = (done.stdout + done.stderr).decode()
    assert done.returncode == 2, said
    assert "Traceback" not in said and said.count("error:") == 1
    place_named(said, file, row_, column)
    assert not list(tmp_path.glob("new.duckdb*"))
    # A store before: nothing added, not even the good file's events.
    assert cli(tmp_path, "good.ndjson", "--db", "s.duckdb").returncode == 0
    before = store_rows(tmp_path / "s.duckdb")
    again = cli(tmp_path, "good.ndjson", file, "--db", "s.duckdb")
    assert again.returncode == 2 and b"Traceback" not in again.stderr
    assert store_rows(tmp_path / "s.duckdb") == before


@pytest.mark.parametrize(
    ("name", "where"),
    [
        ("a directory", "d.ndjson: is a directory"),
        ("/proc/self/mem", "mem.ndjson: cannot read"),
        ("ev[1].csv read literally", None),
        ("stdin with a bad line", "<stdin>, row 2, column 'lat'"),
        ("stdin nested deeply", "<stdin>, row 1"),
    ],
)
def test_the_cli_on_paths_and_stdin(tmp_path: Path, name: str, where: str | None) -> None:
    (tmp_path / "d.ndjson").mkdir()
    os.symlink("/proc/self/mem", tmp_path / "mem.ndjson")
    (tmp_path / "ev1.csv").write_bytes(csv_bytes([row(1)]))
    (tmp_path / "ev[1].csv").write_bytes(csv_bytes([row(7), row(8)]))
    args, stdin = {
        "a directory": (["d.ndjson"], b""),
        "/proc/self/mem": (["mem.ndjson"], b""),
        "ev[1].csv read literally": (["ev[1].csv"], b""),
        "stdin with a bad line": (["-"], lines(ping(1), ping(2, lat="north"))),
        "stdin nested deeply": (["-"], b"[" * 100_000 + b"\n"),
    }[name]
    done = cli(tmp_path, *args, "--db", "s.duckdb", stdin=stdin)
    said = " ".join((done.stdout + done.stderr).decode().split())
    assert "Traceback" not in said
    if where is None:
        assert done.returncode == 0, said
        assert store_rows(tmp_path / "s.duckdb")["event"] == 2  # ev[1].csv, not ev1.csv
        return
    assert done.returncode == 2 and where in said, said
    assert not (tmp_path / "s.duckdb").exists()


def test_the_cli_map_option(tmp_path: Path) -> None:
    header = ["id", "kind", "user", "ts", "lat", "lon"]
    (tmp_path / "e.csv").write_bytes(csv_bytes([row(1), row(2)], header=header))
    maps = ["--map", "event_id=id", "--map", "subscriber_id=user", "--map", "time=ts"]
    done = cli(tmp_path, "e.csv", *maps, "--db", "s.duckdb")
    assert done.returncode == 0, done.stderr
    assert store_rows(tmp_path / "s.duckdb")["event"] == 2
    for args, message in [
        (["--map", "user_id=user"], "'user_id' is not an event field"),
        (["--map", "subscriber_id=usr"], "the file has no column 'usr'"),
    ]:
        bad = cli(tmp_path, "e.csv", *args, "--db", "t.duckdb")
        said = " ".join(bad.stderr.decode().split())
        assert bad.returncode == 2 and message in said and "Traceback" not in said, said
        assert not (tmp_path / "t.duckdb").exists()


def test_help_describes_the_event_format() -> None:
    done = subprocess.run([str(PUSHLIFT), "run", "--help"], capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "100"}, timeout=120)  # fmt: skip
    said = " ".join(done.stdout.split())
    for needed in [*COLUMNS, "location", "purchase", "site_visit", "UTC offset",
                   "integer cents", "sorted by event time", "time order", "--max-skew",
                   "future", "event.schema.json", "--map"]:  # fmt: skip
        assert needed in said, needed


# Hypothesis: valid files damaged at random. Any outcome but a refusal naming the file (and,
# for a row's problem, a row of the file) or a clean read is a failure.
GOOD_VALUES = {
    "event_id": None,  # unique, set per row
    "kind": "location",
    "subscriber_id": "3",
    "time": T,
    "lat": "40.0",
    "lon": "-3.7",
}
BAD_VALUES = {
    "event_id": ["x", "1.5", "-1", "1e3", "9" * 30, "", "١٢", "1_000", "true", "0x10", " "],
    "kind": ["walk", "", "LOCATION", "[b]x"],
    "subscriber_id": ["-3", "3.5", "9" * 25, "", "NaN"],
    "time": ["9999-12-31T00:00:00Z", "0001-01-01T00:00:00Z", "2026-13-01T00:00:00Z",
             "2026-01-01T10:00:00", "", "yesterday", "2026-01-01", "x" * 500],
    "lat": ["abc", "nan", "inf", "91", "1e308", "-inf", "1e999", "40,5", "0x1p3"],
    "lon": ["181", "-1e400", "Infinity", "?"],
}  # fmt: skip
HYPO = settings(max_examples=120, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])  # fmt: skip


@st.composite
def damaged_rows(draw: st.DrawFn) -> tuple[list[dict[str, str]], dict[int, set[str]]]:
    n = draw(st.integers(1, 12))
    rows, damaged = [], {}
    for i in range(n):
        record = dict(GOOD_VALUES, event_id=str(i + 1))
        for column in draw(st.sets(st.sampled_from(sorted(BAD_VALUES)), max_size=2)):
            record[column] = draw(st.sampled_from(BAD_VALUES[column]))
            damaged.setdefault(i, set()).add(column)
        rows.append(record)
    return rows, damaged


def _check_refusal(refused: InputError, path: Path, n_lines: int) -> None:
    assert refused.file == str(path)
    if refused.row is not None:
        assert 1 <= refused.row <= n_lines
    assert str(refused).startswith(str(path))


@HYPO
@given(case=damaged_rows(), end=st.sampled_from(["\n", "\r\n", "\r"]))
def test_damaged_csv_rows_are_named(tmp_path: Path, case, end: str) -> None:
    rows, damaged = case
    path = tmp_path / "h.csv"
    path.write_bytes(csv_bytes([[r[c] for c in CASES_HEADER] for r in rows], end=end))
    try:
        read_events(path)
    except InputError as refused:
        # The record at that row was damaged, in that column.
        index = refused.row - 2
        assert index in damaged and refused.column in damaged[index], (str(refused), damaged)
        return
    assert not damaged, f"damaged rows were accepted: {damaged}"


@HYPO
@given(case=damaged_rows())
def test_damaged_ndjson_lines_are_named(tmp_path: Path, case) -> None:
    rows, damaged = case
    records = []
    for r in rows:
        record: dict[str, object] = dict(r)
        for name in ("event_id", "subscriber_id"):
            value = record[name]
            if value.isascii() and value.isdigit():  # type: ignore[union-attr]
                record[name] = int(record[name])  # type: ignore[arg-type]
        records.append(record)
    path = tmp_path / "h.ndjson"
    path.write_bytes(lines(*records))
    try:
        read_events(path)
    except InputError as refused:
        assert refused.row - 1 in damaged and refused.column in damaged[refused.row - 1]
        return
    assert not damaged


MANGLE: dict[str, Callable[[bytes, st.DrawFn], bytes]] = {
    "truncated": lambda b, d: b[: d(st.integers(0, len(b)))],
    "random bytes": lambda b, d: d(st.binary(max_size=2000)),
    "bytes replaced": lambda b, d: _replace(b, d),
    "utf-16": lambda b, d: b.decode("utf-8", "replace").encode("utf-16"),
    "utf-32": lambda b, d: b.decode("utf-8", "replace").encode("utf-32"),
    "latin-1 accents": lambda b, d: b.replace(b"location", "locatión".encode("latin-1")),
    "nul bytes": lambda b, d: b.replace(b",", b",\x00", d(st.integers(1, 5))),
    "huge numbers": lambda b, d: b.replace(b"40.0", b"4" * d(st.integers(20, 5000)), 1),
    "deep nesting": lambda b, d: b + b"[" * d(st.integers(1, 50_000)) + b"\n",
    "quotes": lambda b, d: b.replace(b",", b',"', d(st.integers(1, 3))),
}


def _replace(data: bytes, draw: st.DrawFn) -> bytes:
    if not data:
        return data
    at = draw(st.integers(0, len(data) - 1))
    return data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at + 1 :]


@HYPO
@given(
    fmt=st.sampled_from(["ndjson", "csv", "parquet"]),
    how=st.sampled_from(sorted(MANGLE)),
    data=st.data(),
)
def test_mangled_files_are_read_or_refused_naming_the_place(
    tmp_path: Path, fmt: str, how: str, data: st.DataObject
) -> None:
    good = {
        "ndjson": lines(ping(1), ping(2), {"event_id": 3, "kind": "purchase", "subscriber_id": 4,
                        "time": T, "vendor_id": "v1", "amount_cents": 250}),
        "csv": csv_bytes([row(1), row(2), row(3)]),
        "parquet": parquet_bytes(good_table()),
    }[fmt]  # fmt: skip
    content = MANGLE[how](good, data.draw)
    path = tmp_path / f"m.{fmt}"
    path.write_bytes(content)
    try:
        batch = read_events(path)
    except InputError as refused:
        _check_refusal(refused, path, max(content.count(b"\n"), content.count(b"\r")) + 1)
        return
    assert len(batch) <= 3


PARQUET_COLUMNS = {
    "ints": pa.array([1, 2, 3], pa.int64()),
    "big uints": pa.array([1, 2**63, 3], pa.uint64()),
    "floats": pa.array([1.0, float("nan"), float("inf")]),
    "text": pa.array(["1", "x", None]),
    "bools": pa.array([True, False, None]),
    "lists": pa.array([[1], [], None]),
    "structs": pa.array([{"a": 1}, {"a": 2}, None]),
    "timestamps": pa.array([0, 10**18, -(10**18)], pa.timestamp("ns", tz="UTC")),
    "naive timestamps": pa.array([0, 1, 2], pa.timestamp("ms")),
    "dates": pa.array([0, 2_000_000, -100_000], pa.date32()),
    "decimals": pa.array([1, 2, 3], pa.decimal128(5, 0)),
    "binary": pa.array([b"\xff", b"1", b""]),
    "dictionary": pa.array(["location", "purchase", "walk"]).dictionary_encode(),
    "nulls": pa.nulls(3),
}


@HYPO
@given(choice=st.dictionaries(st.sampled_from(COLUMNS), st.sampled_from(sorted(PARQUET_COLUMNS)),
                              max_size=len(COLUMNS)))  # fmt: skip
def test_parquet_of_any_types_is_read_or_refused(tmp_path: Path, choice: dict[str, str]) -> None:
    base = good_table().slice(0, 1)
    columns = {name: pa.concat_arrays([base.column(name).chunk(0)] * 3)
               for name in base.column_names}  # fmt: skip
    columns["event_id"] = pa.array([1, 2, 3])
    columns |= {name: PARQUET_COLUMNS[kind] for name, kind in choice.items()}
    path = tmp_path / "p.parquet"
    path.write_bytes(parquet_bytes(pa.table(columns)))
    try:
        read_events(path)
    except InputError as refused:
        _check_refusal(refused, path, 3)
        assert refused.column is not None or refused.row is not None, str(refused)
