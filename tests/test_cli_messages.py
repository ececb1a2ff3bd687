"""Error messages quote the user's data: text that looks like console markup (`[/]`,
`[/bold]`) is shown as written, never parsed (it crashed the console with a traceback)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from web.process import PUSHLIFT  # tests/ is on sys.path


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        (["analyze", "experiment", "--table", "t.csv", "--arm", "[/]", "--control", "x",
          "--outcome", "b"], "column '[/]'"),
        (["import", "crm", "--sales", "[/bold]x.csv", "--messages", "o.csv", "--db", "z.duckdb"],
         "[/bold]x.csv: file not found"),
        (["run", "e.ndjson", "--config", "[/]c.yaml", "--db", "z.duckdb"], "[/]c.yaml"),
    ],
)  # fmt: skip
def test_markup_in_a_message_is_shown_as_written(
    tmp_path: Path, args: list[str], shown: str
) -> None:
    (tmp_path / "t.csv").write_text("a,b\n1,2\n")
    (tmp_path / "e.ndjson").write_text("")
    done = subprocess.run(
        [str(PUSHLIFT), *args], cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={"COLUMNS": "250", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and shown in done.stderr
    assert not (tmp_path / "z.duckdb").exists()
