"""The CLI end to end on a small simulation, through the installed `pushlift` command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pushlift.report.numbers import fmt

PUSHLIFT = Path(sys.executable).parent / "pushlift"


def run(*args: str | Path, cwd: Path, ok: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.run(
        [str(PUSHLIFT), *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_simulate_import_analyze_round_trip(tmp_path: Path) -> None:
    # Simulate twice with the same seed: the exports must be byte-identical.
    for db, export in (("sim.duckdb", "export"), ("again.duckdb", "again")):
        run(
            "simulate",
            "mall",
            "--consumers",
            "1500",
            "--seed",
            "4",
            "--db",
            db,
            "--export",
            export,
            cwd=tmp_path,
        )
    for name in ("consumer.csv", "purchase.csv"):
        assert (tmp_path / "export" / name).read_bytes() == (tmp_path / "again" / name).read_bytes()

    run(
        "import",
        "mall",
        "export/consumer.csv",
        "export/purchase.csv",
        "--db",
        "imp.duckdb",
        cwd=tmp_path,
    )
    sim = json.loads(
        run(
            "analyze",
            "experiment",
            "--db",
            "sim.duckdb",
            "--json",
            "--report",
            "sim.html",
            cwd=tmp_path,
        ).stdout
    )
    imp = json.loads(
        run("analyze", "experiment", "--db", "imp.duckdb", "--json", cwd=tmp_path).stdout
    )
    # The imported export gives the same estimates as the simulated store it came from.
    for a, b in zip(sim["outcomes"], imp["outcomes"], strict=True):
        ca, cb = a["comparisons"][0], b["comparisons"][0]
        assert ca["absolute"]["estimate"] == pytest.approx(cb["absolute"]["estimate"], abs=1e-9)
        if ca["adjusted"] is None:
            assert cb["adjusted"] is None
        else:
            assert ca["adjusted"]["effect"]["se"] == pytest.approx(cb["adjusted"]["effect"]["se"])
    # Only the simulation knows the truth.
    assert sim["outcomes"][0]["comparisons"][0]["true_effect"] is not None
    assert imp["outcomes"][0]["comparisons"][0]["true_effect"] is None
    assert sim["sample_ratio"]["counts"] == imp["sample_ratio"]["counts"]
    assert sum(sim["sample_ratio"]["counts"]) == 1500

    html = (tmp_path / "sim.html").read_text()
    assert html.count("<svg") >= 4  # distributions, forest plots, segments
    assert "Conclusions" in html and "Method notes" in html
    # Self-contained: nothing is fetched when it opens.
    assert "<script" not in html and 'src="http' not in html and 'href="http' not in html


def test_terminal_output_and_errors(tmp_path: Path, small_mall_store: Path) -> None:
    res = run("analyze", "experiment", "--db", small_mall_store, cwd=tmp_path)
    assert "from_second_store_sales" in res.stdout and "Holm" in res.stdout
    missing = run("analyze", "experiment", "--db", "nope.duckdb", cwd=tmp_path, ok=False)
    assert missing.returncode == 2 and "no store at nope.duckdb" in missing.stderr
    again = run(
        "simulate", "mall", "--consumers", "100", "--db", small_mall_store, cwd=tmp_path, ok=False
    )
    assert again.returncode == 2 and "--replace" in again.stderr
    bad = run(
        "simulate", "mall", "--effect", "loyalty=2", "--db", "x.duckdb", cwd=tmp_path, ok=False
    )
    assert bad.returncode == 2 and "loyalty=2" in bad.stderr and "Traceback" not in bad.stderr
    (tmp_path / "c.csv").write_text("consumer_id,age,gender,loyalty_status\n1,30,X,1\n")
    (tmp_path / "p.csv").write_text("consumer_id,from_second_store_sales,realtime_message\n1,0,1\n")
    imp = run("import", "mall", "c.csv", "p.csv", "--db", "i.duckdb", cwd=tmp_path, ok=False)
    assert imp.returncode == 2 and "row 2" in imp.stderr and "gender" in imp.stderr


def test_demo_runs_and_is_deterministic(tmp_path: Path) -> None:
    res = run("demo", "--out", "a", "--consumers", "2000", cwd=tmp_path)
    assert (tmp_path / "out" / "pushlift.duckdb").exists()  # every command's default store
    assert "report:" in res.stdout and (tmp_path / "a" / "report.html").exists()
    # The per-notification KPI in percentage points, with the two rates it is the
    # difference of (not "+4.21%", which read as a relative lift).
    kpis = json.loads((tmp_path / "a" / "kpis.json").read_text())
    row = next(r for r in kpis["breakdowns"]["experiment"] if r["key"] == "city-holdout")
    held = row["conversion_rate"] - row["incremental_conversion"]
    line = " ".join(res.stdout.split())
    assert (
        f"city-holdout: per delivered notification, a purchase at the offer's vendor within "
        f"24 h: {fmt(row['conversion_rate'], 'share')} against {fmt(held, 'share')} held out, "
        f"{fmt(row['incremental_conversion'], 'pp')} (95% CI "
        f"{fmt(row['incremental_conversion_ci_low'], 'pp')} to "
        f"{fmt(row['incremental_conversion_ci_high'], 'pp')})"
    ) in line
    run("demo", "--out", "b", "--consumers", "2000", cwd=tmp_path)
    for name in ("analysis.json", "kpis.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
