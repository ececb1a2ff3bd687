"""The CRM commands end to end, in process: import, analyze (careful and naive), report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from crm_data import MESSAGES, SALES
from typer.testing import CliRunner

from pushlift.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "crm.duckdb"
    res = runner.invoke(app, ["import", "crm", "--sales", str(SALES), "--messages",
                              str(MESSAGES), "--db", str(path)])
    assert res.exit_code == 0, res.output
    assert "58,376 rows read, 54,752 kept, 3,624 dropped" in res.output
    assert "joining the raw files row by row on phone gives 135,957 rows" in res.output
    return path


def test_import_twice_needs_replace(db: Path) -> None:
    res = runner.invoke(app, ["import", "crm", "--sales", str(SALES), "--messages",
                              str(MESSAGES), "--db", str(db)])
    assert res.exit_code == 2 and "--replace" in res.output


def test_analyze_json_and_report(db: Path, tmp_path: Path) -> None:
    report = tmp_path / "engagement.html"
    res = runner.invoke(app, ["analyze", "engagement", "--db", str(db), "--json",
                              "--report", str(report)])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["flow"]["customers"] == 905 and data["windows"] == [7, 30]
    html = report.read_text()
    assert html.count("<svg") == 4 and "<script" not in html and "http" not in html.split(
        "<svg")[0]
    assert "Response is self-selected" in html
    assert "M-estimation sandwich" in html  # the IPW error method, in the note


def test_custom_windows(db: Path) -> None:
    res = runner.invoke(app, ["analyze", "engagement", "--db", str(db), "--json",
                              "--window", "14"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["windows"] == [14] and data["primary_window"] == 14


def test_naive_side_by_side(db: Path) -> None:
    res = runner.invoke(app, ["analyze", "engagement", "--db", str(db), "--method",
                              "naive-row-join", "--sales", str(SALES), "--messages",
                              str(MESSAGES), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["naive"]["all_match"] is True
    assert data["naive"]["joined_rows"] == 135_957
    assert data["flow"]["customers"] == 905  # the careful figures come along


def test_errors_are_one_line(tmp_path: Path) -> None:
    res = runner.invoke(app, ["analyze", "engagement", "--db", str(tmp_path / "none.duckdb")])
    assert res.exit_code == 2 and "pushlift import crm" in res.output
    res = runner.invoke(app, ["analyze", "engagement", "--method", "naive-row-join"])
    assert res.exit_code == 2 and "--sales and --messages" in res.output
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    res = runner.invoke(app, ["import", "crm", "--sales", str(empty), "--messages",
                              str(MESSAGES), "--db", str(tmp_path / "x.duckdb")])
    flat = " ".join(res.output.split())  # rich wraps long lines
    assert res.exit_code == 2 and "empty.csv, row 1: the file is empty" in flat
