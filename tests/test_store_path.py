"""One store path: every command (and the demo) defaults to out/pushlift.duckdb, $PUSHLIFT_DB
overrides it, and --db overrides both; a command that finds no store says where it looked;
a failed command leaves no empty store file behind."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from web.process import PUSHLIFT  # tests/ is on sys.path


def pushlift_in(folder: Path, *args: str, env: dict[str, str] | None = None):
    environment = {k: v for k, v in os.environ.items() if k != "PUSHLIFT_DB"} | (env or {})
    return subprocess.run(
        [str(PUSHLIFT), *args], cwd=folder, capture_output=True, text=True, timeout=600,
        env=environment,
    )  # fmt: skip


def test_commands_agree_on_the_default_store_and_the_variable(tmp_path: Path) -> None:
    made = pushlift_in(tmp_path, "simulate", "mall", "--consumers", "300")
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "out" / "pushlift.duckdb").exists()
    analysed = pushlift_in(tmp_path, "analyze", "experiment", "--json")
    assert analysed.returncode == 0, analysed.stderr
    assert analysed.stdout.lstrip().startswith("{")  # the analysis of the store just made

    elsewhere = {"PUSHLIFT_DB": str(tmp_path / "other.duckdb")}
    assert (
        pushlift_in(tmp_path, "simulate", "mall", "--consumers", "200", env=elsewhere).returncode
        == 0
    )
    assert (tmp_path / "other.duckdb").exists()
    assert pushlift_in(tmp_path, "analyze", "experiment", env=elsewhere).returncode == 0


def test_no_store_says_where_it_looked_and_creates_nothing(tmp_path: Path) -> None:
    for command in (["analyze", "kpis"], ["analyze", "experiment"], ["analyze", "engagement"]):
        done = pushlift_in(tmp_path, *command)
        said = " ".join(done.stderr.split())
        assert done.returncode == 2, said
        assert "out/pushlift.duckdb" in said and "Traceback" not in said
        if command[1] == "kpis":
            assert "no store at out/pushlift.duckdb" in said and "PUSHLIFT_DB" in said
    assert not (tmp_path / "out").exists()


def test_a_failed_import_leaves_no_store_file(tmp_path: Path) -> None:
    bad = tmp_path / "sales.csv"
    bad.write_text("not,a,sales,export\n1,2,3,4\n")
    done = pushlift_in(
        tmp_path, "import", "crm", "--sales", str(bad), "--messages", str(bad),
        "--db", str(tmp_path / "new.duckdb"),
    )  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert not (tmp_path / "new.duckdb").exists()
    assert not (tmp_path / "new.duckdb.wal").exists()
