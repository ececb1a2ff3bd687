"""A corpus of malformed inputs for `pushlift analyze experiment --table` (issue 12): NaN,
inf, 1e308, 30-digit numbers and list-typed columns in every role, glob characters in the
path, unreadable paths and damaged files. Each is one error naming the file, the row when a
value is at fault, and the column; exit code 2 from the CLI, no traceback, no store file.
Hypothesis then fills tables with hostile values for the Python functions.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web.process import PUSHLIFT  # tests/ is on sys.path

from pushlift.analysis.experiment import analyze_experiment
from pushlift.errors import InputError, PushliftError
from pushlift.ingest.table import table_spec

ARMS = ["c", "t"] * 6


def table_csv(path: Path, columns: dict[str, list[object]]) -> Path:
    names = list(columns)
    rows = zip(*columns.values(), strict=True)
    path.write_text(
        ",".join(names) + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows)
    )
    return path


def good(**change: list[object]) -> dict[str, list[object]]:
    rng = np.random.default_rng(1)
    return {
        "arm": ARMS,
        "y": [round(float(x), 2) for x in rng.normal(10, 2, 12)],
        "x": [int(x) for x in rng.integers(0, 9, 12)],
        "d": [int(x) for x in rng.integers(1, 5, 12)],
        "seg": ["a", "b", "a", "b", "a", "b"] * 2,
    } | change


def with_value(column: str, value: object, at: int = 4) -> dict[str, list[object]]:
    columns = good()
    values = list(columns[column])
    values[at] = value
    columns[column] = values
    return columns


ROLES = {  # the arguments giving each column its role
    "y": {"outcomes": ["y"]},
    "x": {"outcomes": ["y"], "covariates": ["x"]},
    "d": {"ratios": ["r=y/d"]},
}
HOSTILE = {"NaN": "NaN", "inf": "inf", "-inf": "-inf", "1e308": "1e308",
           "30 digits": "123456789012345678901234567890", "-1e20": "-1e20"}  # fmt: skip


def spec_of(path: Path, **kwargs: object):
    args = {"arm": "arm", "control": "c", "outcomes": []} | kwargs
    return table_spec(duckdb.connect(), path, **args)  # type: ignore[arg-type]


@pytest.mark.parametrize("column", sorted(ROLES))
@pytest.mark.parametrize("value", sorted(HOSTILE))
def test_a_hostile_number_is_named_by_row_and_column(tmp_path: Path, column: str, value: str):
    path = table_csv(tmp_path / "exp.csv", with_value(column, HOSTILE[value]))
    with pytest.raises(InputError) as refused:
        spec_of(path, **ROLES[column])
    assert (refused.value.row, refused.value.column) == (6, column), str(refused.value)
    assert str(refused.value).startswith(f"{path}, row 6, column {column!r}")


def parquet(path: Path, columns: dict[str, object]) -> Path:
    pq.write_table(pa.table(columns), path)
    return path


@pytest.mark.parametrize(
    ("role", "kwargs"),
    [
        ("outcome", {"outcomes": ["v"]}),
        ("covariate", {"outcomes": ["y"], "covariates": ["v"]}),
        ("segment", {"outcomes": ["y"], "segments": ["v"]}),
        ("ratio", {"ratios": ["r=y/v"]}),
        ("arm", {"outcomes": ["y"]}),
    ],
)
def test_list_typed_columns_are_named(tmp_path: Path, role: str, kwargs: dict) -> None:
    columns = good()
    listed = [[1], [2]] * 6
    table = {"arm": ARMS, "y": columns["y"], "v": listed}
    if role == "arm":
        table = {"arm": [[a] for a in ARMS], "y": columns["y"]}
    path = parquet(tmp_path / "exp.parquet", table)
    with pytest.raises(InputError) as refused:
        spec_of(path, **kwargs)
    assert refused.value.column == ("arm" if role == "arm" else "v"), str(refused.value)
    assert "[]" in str(refused.value)  # the type is named: BIGINT[]


def test_struct_and_nested_parquet_columns(tmp_path: Path) -> None:
    mapping = pa.array([[("k", 1)]] * 12, pa.map_(pa.string(), pa.int64()))
    path = parquet(tmp_path / "exp.parquet", {"arm": ARMS, "y": [{"a": 1}] * 12, "m": mapping})
    for kwargs, column in [({"outcomes": ["y"]}, "y"), ({"ratios": ["r=m/m"]}, "m")]:
        with pytest.raises(InputError) as refused:
            spec_of(path, **kwargs)
        assert refused.value.column == column


def test_paths_are_literal(tmp_path: Path) -> None:
    """`exp[1].csv` beside `exp1.csv`: each reads its own file."""
    table_csv(tmp_path / "exp1.csv", good())  # 12 rows
    table_csv(tmp_path / "exp[1].csv", {k: v[:8] for k, v in good().items()})
    table_csv(tmp_path / "exp*.csv", {k: v[:6] for k, v in good().items()})
    (tmp_path / "d[x]").mkdir()
    table_csv(tmp_path / "d[x]" / "e?.csv", {k: v[:4] for k, v in good().items()})
    for name, n in [("exp1.csv", 12), ("exp[1].csv", 8), ("exp*.csv", 6), ("d[x]/e?.csv", 4)]:
        con = duckdb.connect()
        spec = table_spec(con, tmp_path / name, arm="arm", control="c", outcomes=["y"])
        assert con.execute(f"SELECT count(*) FROM {spec.relation}").fetchall()[0][0] == n, name
    con = duckdb.connect()
    spec = table_spec(con, tmp_path / "exp[1].csv", arm="arm", control="c", outcomes=["y"])
    result = analyze_experiment(con, spec)
    assert sum(a.n for a in result.outcomes[0].arms) == 8


def test_unreadable_and_damaged_files(tmp_path: Path) -> None:
    (tmp_path / "dir.csv").mkdir()
    os.symlink("/proc/self/mem", tmp_path / "mem.csv")
    (tmp_path / "random.csv").write_bytes(os.urandom(4000))
    (tmp_path / "random.parquet").write_bytes(os.urandom(4000))
    (tmp_path / "utf16.csv").write_bytes("arm,y\nc,1\nt,2\n".encode("utf-16"))
    (tmp_path / "latin1.csv").write_bytes(b"arm,y\nc,1\nt,2\n\xe9,3\n" * 3)
    (tmp_path / "empty.csv").write_bytes(b"")
    (tmp_path / "header.csv").write_bytes(b"arm,y\n")
    (tmp_path / "e.txt.gz").write_bytes(b"x")
    for name in ["dir.csv", "mem.csv", "random.csv", "random.parquet", "utf16.csv",
                 "latin1.csv", "empty.csv", "header.csv", "missing.csv", "e.txt.gz"]:  # fmt: skip
        with pytest.raises(PushliftError) as refused:
            spec_of(tmp_path / name, outcomes=["y"])
        assert str(refused.value).startswith(str(tmp_path / name)), str(refused.value)


def test_cr_only_line_ends_are_read(tmp_path: Path) -> None:
    path = tmp_path / "cr.csv"
    path.write_bytes(table_csv(tmp_path / "x.csv", good()).read_bytes().replace(b"\n", b"\r"))
    spec = spec_of(path, outcomes=["y"])
    assert spec.arms == ("c", "t")


def test_missing_values_name_the_first_row(tmp_path: Path) -> None:
    path = table_csv(tmp_path / "gaps.csv", with_value("x", "", at=7))
    with pytest.raises(InputError, match=r"1 rows have no value.*\(the first is row 9\)"):
        spec_of(path, outcomes=["y"], covariates=["x"])


# The real CLI.
def cli(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PUSHLIFT), "analyze", "experiment", *args],
        capture_output=True, text=True, cwd=tmp, timeout=300,
        env={**os.environ, "COLUMNS": "250", "PUSHLIFT_DB": str(tmp / "s.duckdb")},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("case", "where"),
    [
        ("NaN outcome", "exp.csv, row 6, column 'y'"),
        ("1e308 covariate", "exp.csv, row 6, column 'x'"),
        ("30-digit ratio denominator", "exp.csv, row 6, column 'd'"),
        ("list outcome", "exp.parquet, column 'v'"),
        ("markup in a column name", "column '[/]'"),
        ("a directory", "exp.csv"),
    ],
)
def test_the_cli_names_the_place(tmp_path: Path, case: str, where: str) -> None:
    args = ["--arm", "arm", "--control", "c"]
    if case == "NaN outcome":
        table_csv(tmp_path / "exp.csv", with_value("y", "NaN"))
        args += ["--table", "exp.csv", "--outcome", "y"]
    elif case == "1e308 covariate":
        table_csv(tmp_path / "exp.csv", with_value("x", "1e308"))
        args += ["--table", "exp.csv", "--outcome", "y", "--covariate", "x"]
    elif case == "30-digit ratio denominator":
        table_csv(tmp_path / "exp.csv", with_value("d", "9" * 30))
        args += ["--table", "exp.csv", "--ratio", "r=y/d"]
    elif case == "list outcome":
        parquet(tmp_path / "exp.parquet", {"arm": ARMS, "v": [[1]] * 12})
        args += ["--table", "exp.parquet", "--outcome", "v"]
    elif case == "markup in a column name":
        table_csv(tmp_path / "exp.csv", good())
        args += ["--table", "exp.csv", "--outcome", "[/]"]
    else:
        (tmp_path / "exp.csv").mkdir()
        args += ["--table", "exp.csv", "--outcome", "y"]
    done = cli(tmp_path, *args)
    said = " ".join((done.stdout + done.stderr).split())
    assert done.returncode == 2, said
    assert "Traceback" not in said and said.count("error:") == 1
    assert where in said, said
    assert not list(tmp_path.glob("s.duckdb*")) and not (tmp_path / "out").exists()


def test_the_cli_reads_the_literal_path(tmp_path: Path) -> None:
    table_csv(tmp_path / "exp1.csv", good())
    table_csv(tmp_path / "exp[1].csv", {k: v[:8] for k, v in good().items()})
    done = cli(tmp_path, "--table", "exp[1].csv", "--arm", "arm", "--control", "c",
               "--outcome", "y", "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    import json

    result = json.loads(done.stdout)
    assert sum(a["n"] for a in result["outcomes"][0]["arms"]) == 8


# Hypothesis: tables of hostile values, through the spec and the whole analysis.
CELLS = st.sampled_from(
    ["", "0", "1", "-1", "2.5", "NaN", "nan", "inf", "-Infinity", "1e308", "-1e308", "1e-320",
     "9" * 30, "1e15", "1e16", "true", "false", "x", "[1]", '"a,b"', "ü", "2026-01-01",
     "   ", "1,5", "0x10"]
)  # fmt: skip
HYPO = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])  # fmt: skip


@HYPO
@given(
    n=st.integers(1, 14),
    data=st.data(),
    roles=st.sampled_from(sorted(ROLES) + ["seg"]),
)
def test_hostile_tables_are_analysed_or_refused(tmp_path: Path, n: int, data, roles: str):
    arms = data.draw(st.lists(st.sampled_from(["c", "t", "u", ""]), min_size=n, max_size=n))
    columns = {
        "arm": arms,
        "y": data.draw(st.lists(CELLS, min_size=n, max_size=n)),
        "x": data.draw(st.lists(CELLS, min_size=n, max_size=n)),
        "d": data.draw(st.lists(CELLS, min_size=n, max_size=n)),
        "seg": data.draw(st.lists(CELLS, min_size=n, max_size=n)),
    }
    kwargs = {"outcomes": []} | ROLES.get(roles, {"outcomes": ["y"], "segments": ["seg"]})
    path = table_csv(tmp_path / "h.csv", columns)
    con = duckdb.connect()
    try:
        spec = table_spec(con, path, arm="arm", control="c", **kwargs)  # type: ignore[arg-type]
    except PushliftError as refused:
        assert str(refused).startswith(str(path))
        return
    with contextlib.suppress(PushliftError):  # about the data as a whole: not a crash
        analyze_experiment(con, spec)


@HYPO
@given(content=st.binary(max_size=3000))
def test_random_bytes_are_refused_naming_the_file(tmp_path: Path, content: bytes) -> None:
    for suffix in (".csv", ".parquet"):
        path = tmp_path / f"r{suffix}"
        path.write_bytes(content)
        con = duckdb.connect()
        try:
            spec = table_spec(con, path, arm="arm", control="c", outcomes=["y"])
        except PushliftError as refused:
            assert str(refused).startswith(str(path))
            continue
        with contextlib.suppress(PushliftError):
            analyze_experiment(con, spec)
