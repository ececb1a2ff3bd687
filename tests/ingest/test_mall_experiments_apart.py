"""Each mall experiment's units are its own: an import or a simulation whose consumer ids
overlap another experiment's never changes that experiment (issue 12)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb

from pushlift import schema
from pushlift.ingest.mall import import_mall
from pushlift.sim import mall
from pushlift.store import Store

PUSHLIFT = Path(sys.executable).parent / "pushlift"


def pushlift(*args: str | Path, cwd: Path) -> str:
    proc = subprocess.run(
        [str(PUSHLIFT), *map(str, args)],
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def analysis(db: Path, experiment: str, cwd: Path) -> str:
    return pushlift(
        "analyze", "experiment", "--json", "--db", db, "--experiment", experiment, cwd=cwd
    )


def test_an_import_with_overlapping_ids_leaves_the_earlier_experiment_byte_identical(
    tmp_path: Path,
) -> None:
    # Two simulated weeks of different people under the same ids 1..1200.
    pushlift("simulate", "mall", "--consumers", "1200", "--db", "a.duckdb", cwd=tmp_path)
    pushlift(
        "simulate", "mall", "--consumers", "1200", "--seed", "2", "--db", "b.duckdb",
        "--export", "second", cwd=tmp_path,
    )  # fmt: skip
    before = analysis(Path("a.duckdb"), "mall-2019-10", tmp_path)
    pushlift(
        "import", "mall", "second/consumer.csv", "second/purchase.csv", "--db", "a.duckdb",
        "--experiment", "second-export", cwd=tmp_path,
    )  # fmt: skip
    assert analysis(Path("a.duckdb"), "mall-2019-10", tmp_path) == before
    # The second export keeps its own covariates: its units are those of its own store.
    sim_b = Store.open(tmp_path / "b.duckdb")
    store = Store.open(tmp_path / "a.duckdb")
    try:
        query = """SELECT consumer_id, arm, age, gender, loyalty, from_second_store_sales
                   FROM mall_units WHERE experiment_id = ? ORDER BY consumer_id"""
        assert (
            store.con.execute(query, ["second-export"]).fetchall()
            == sim_b.con.execute(query, ["mall-2019-10"]).fetchall()
        )
    finally:
        store.close()
        sim_b.close()

    # Replacing the simulated week leaves the import alone, and the other way round.
    imported = analysis(Path("a.duckdb"), "second-export", tmp_path)
    pushlift(
        "simulate", "mall", "--consumers", "900", "--seed", "3", "--db", "a.duckdb",
        "--replace", cwd=tmp_path,
    )  # fmt: skip
    assert analysis(Path("a.duckdb"), "second-export", tmp_path) == imported
    simulated = analysis(Path("a.duckdb"), "mall-2019-10", tmp_path)
    pushlift(
        "import", "mall", "second/consumer.csv", "second/purchase.csv", "--db", "a.duckdb",
        "--experiment", "second-export", "--replace", cwd=tmp_path,
    )  # fmt: skip
    assert analysis(Path("a.duckdb"), "mall-2019-10", tmp_path) == simulated
    assert analysis(Path("a.duckdb"), "second-export", tmp_path) == imported


CONSUMERS_1 = "consumer_id,age,gender,loyalty_status\n1,25,F,1\n2,34,M,2\n3,61,F,2\n4,40,M,1\n"
PURCHASES_1 = (
    "consumer_id,from_second_store_sales,realtime_message\n1,12.30,1\n2,0,0\n3,5.00,1\n4,0,0\n"
)
CONSUMERS_2 = "consumer_id,age,gender,loyalty_status\n1,70,M,2\n2,19,F,1\n9,50,F,1\n"
PURCHASES_2 = "consumer_id,from_second_store_sales,realtime_message\n1,99.00,0\n2,1,1\n9,0,1\n"


def _files(tmp_path: Path, name: str, consumers: str, purchases: str) -> tuple[Path, Path]:
    folder = tmp_path / name
    folder.mkdir(exist_ok=True)
    (folder / "consumer.csv").write_text(consumers)
    (folder / "purchase.csv").write_text(purchases)
    return folder / "consumer.csv", folder / "purchase.csv"


def _owned(store: Store, experiment_id: str) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table keyed by experiment that belongs to `experiment_id`."""
    out = {}
    for table in schema.TABLES:
        if "experiment_id" in table.column_names and table.name != "notification":
            cols = [c for c in table.column_names if c not in ("created_at", "imported_at")]
            out[table.name] = store.con.execute(
                f"SELECT {', '.join(cols)} FROM {table.name} WHERE experiment_id = ? "
                f"ORDER BY ALL",
                [experiment_id],
            ).fetchall()
    return out


def test_replace_replaces_exactly_one_experiment(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "t.duckdb")
    try:
        import_mall(store, *_files(tmp_path, "one", CONSUMERS_1, PURCHASES_1), experiment_id="w1")
        week_1 = _owned(store, "w1")
        assert len(week_1["mall_consumer"]) == 4
        import_mall(store, *_files(tmp_path, "two", CONSUMERS_2, PURCHASES_2), experiment_id="w2")
        assert _owned(store, "w1") == week_1
        # Consumers 1 and 2 are different people in the two exports.
        assert store.con.execute(
            "SELECT experiment_id, age, gender FROM mall_units WHERE consumer_id = 1 ORDER BY 1"
        ).fetchall() == [("w1", 25, "F"), ("w2", 70, "M")]
        # Replacing week 2 with fewer consumers leaves week 1 as it was.
        import_mall(
            store,
            *_files(tmp_path, "three", CONSUMERS_2.rsplit("\n", 2)[0] + "\n",
                    PURCHASES_2.rsplit("\n", 2)[0] + "\n"),
            experiment_id="w2",
            replace=True,
        )  # fmt: skip
        assert _owned(store, "w1") == week_1
        assert [r[1] for r in _owned(store, "w2")["mall_consumer"]] == [1, 2]
        # Imports never write the engine's subscriber traits.
        assert store.con.execute("SELECT count(*) FROM consumer").fetchall() == [(0,)]
    finally:
        store.close()


def test_a_store_from_before_is_upgraded(tmp_path: Path) -> None:
    """A store written when trips, purchases and consumers were shared gets its mall rows
    keyed by the experiment they belonged to, and analyses as before."""
    path = tmp_path / "old.duckdb"
    store = Store.open(path)
    model = mall.MallModel()
    mall.write_week(store, mall.simulate_week(300, 4, model), model, replace=False)
    units = store.con.execute("SELECT * FROM mall_units ORDER BY consumer_id").fetchall()
    trips = store.con.execute("SELECT * EXCLUDE (experiment_id) FROM trip ORDER BY ALL").fetchall()
    store.close()
    # Rewrite it the old way: no experiment_id on trips and purchases, no mall_consumer.
    con = duckdb.connect(str(path))
    con.execute("DROP VIEW mall_units")
    for table in ("trip", "purchase"):
        con.execute(f"CREATE TABLE {table}_old AS SELECT * EXCLUDE (experiment_id) FROM {table}")
        con.execute(f"DROP TABLE {table}")
        con.execute(f"ALTER TABLE {table}_old RENAME TO {table}")
    con.execute("DROP TABLE mall_consumer")
    con.close()

    store = Store.open(path)
    try:
        assert store.con.execute("SELECT * FROM mall_units ORDER BY consumer_id").fetchall() == (
            units
        )
        assert store.con.execute(
            "SELECT DISTINCT experiment_id FROM trip UNION SELECT experiment_id FROM purchase"
        ).fetchall() == [("mall-2019-10",)]
        assert (
            store.con.execute("SELECT * EXCLUDE (experiment_id) FROM trip ORDER BY ALL").fetchall()
            == trips
        )
        # And the simulation can replace it again.
        mall.write_week(store, mall.simulate_week(200, 4, model), model, replace=True)
        assert store.con.execute("SELECT count(*) FROM mall_units").fetchall() == [(200,)]
    finally:
        store.close()
