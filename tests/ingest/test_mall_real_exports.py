"""`import mall` on real, damaged exports (issue 12): every problem at once, spreadsheet
damage named and counted, --quarantine, a purchase file of buyers only and --assigned."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pushlift.analysis.experiment import analyze_experiment
from pushlift.analysis.mall import mall_spec
from pushlift.errors import PushliftError
from pushlift.ingest.mall import MallImportRefused, import_mall
from pushlift.ingest.mall_damage import rounded_zeros
from pushlift.store import Store

from .mall_exports import HONEST, ROUNDED, UNDER_AGE, damaged_export, honest_id

PUSHLIFT = Path(sys.executable).parent / "pushlift"
MALL_TABLES = ("experiment", "mall_consumer", "assignment", "mall_outcome", "mall_import",
               "mall_rejected_row")  # fmt: skip


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "t.duckdb")
    yield s
    s.close()


def pushlift(*args: str | Path, cwd: Path, code: int = 0) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(PUSHLIFT), *map(str, args)],
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == code, proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr
    return proc


def counts(store: Store) -> dict[str, int]:
    return {
        t: store.con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in MALL_TABLES
    }


def test_damaged_export_names_each_pattern_with_its_count(tmp_path: Path, store: Store) -> None:
    c, p, want = damaged_export(tmp_path / "export")
    with pytest.raises(MallImportRefused) as refused:
        import_mall(store, c, p)
    report = refused.value.report
    assert (report.consumer_rows, report.purchase_rows) == (want.consumer_rows, want.purchase_rows)
    damage = {d.pattern: d for d in report.damage}
    assert {k: d.rows for k, d in damage.items()} == {
        "rounded_ids": want.rounded_rows,
        "scientific_notation": want.scientific_rows,
        "untrusted_matches": want.untrusted_matches,
        "buyers_only": want.purchase_rows,
    }
    assert "3 distinct ids ending in 6 or more zeros" in damage["rounded_ids"].detail
    assert "603223000000 with 3" in damage["rounded_ids"].detail
    assert damage["scientific_notation"].detail.startswith(
        f"{want.scientific_matching_none} match no consumer id, "
        f"{want.scientific_rows - want.scientific_matching_none} match only a damaged one"
    )
    assert f"{want.purchase_rows} rows for {want.consumer_rows} consumers" in (
        damage["buyers_only"].detail
    )
    spellings = {(s.column, s.written): s.rows for s in report.spellings}
    assert spellings == {
        ("gender", "Female/Male (any case)"): want.spelled_genders,
        ("loyalty_status", "1.0/2.0"): want.loyalty_decimals,
        ("loyalty_status", "low/high (any case)"): want.loyalty_words,
    }
    problems = {(p.file, p.kind): p for p in report.problems}
    assert {k: p.rows for k, p in problems.items()} == {
        ("consumer.csv", "age_below_18"): 1,
        ("consumer.csv", "id_rounded"): want.rounded_rows,
        ("purchase.csv", "id_scientific"): want.scientific_rows,
        ("purchase.csv", "untrusted_match"): want.untrusted_matches,
    }
    under_age = problems[("consumer.csv", "age_below_18")].examples[0]
    assert (under_age.row, under_age.column, under_age.value) == (want.under_age_row, "age", "14")
    assert "under-age" in under_age.message
    untrusted = problems[("purchase.csv", "untrusted_match")].examples[0]
    assert untrusted.value == "6.03223E+11" and "603223000000" in untrusted.message
    assert "shared by 3 rows" in untrusted.message
    # The error names the first problem; the buyers-only file is not a consumer problem.
    err = refused.value
    assert (Path(err.file).name, err.row, err.column) == ("consumer.csv", want.under_age_row, "age")
    assert not [p for p in report.problems if p.kind == "no_purchase_row"]
    assert counts(store) == dict.fromkeys(MALL_TABLES, 0)


def test_the_command_prints_every_pattern_and_writes_no_store(tmp_path: Path) -> None:
    damaged_export(tmp_path)
    res = pushlift("import", "mall", "consumer.csv", "purchase.csv", "--db", "t.duckdb",
                   cwd=tmp_path, code=2)  # fmt: skip
    text = res.stderr
    for line in (
        "error: consumer.csv, row 10, column 'age': age 14 is below 18",
        "ids rounded to trailing zeros in consumer.csv: 6 rows",
        "ids in scientific notation in purchase.csv: 4 rows; 1 match no consumer id, 3 match "
        "only a damaged one",
        "matches between the files that cannot be trusted: 3 rows",
        "purchase.csv lists only buyers: 17 rows",
        "gender written as Female/Male (any case): 32 rows, read as F/M",
        "under-age consumer (age below 18) — 1 row in consumer.csv:",
        "consumer_id rounded to trailing zeros (spreadsheet damage) — 6 rows in consumer.csv:",
        "… and 1 more",
        "Nothing was written.",
        "--assigned N_TREATED,N_CONTROL",
        "They cannot support: the share who bought again",
    ):
        assert line in text, line
    assert not (tmp_path / "t.duckdb").exists()


# Every kind of problem of a complete export (a purchase row per consumer), each in a row
# of its own; one run must report all of them.
LAZY_CONSUMERS = """consumer_id,age,gender,loyalty_status
1,30,F,1
2,17,F,1
3,thirty,M,2
4,40,X,2
5,41,F,3
6,50,M,1
6,51,F,2
1.5E+3,52,F,1
9,60,M
,70,F,1

11,101,M,2
12,33,Female,low
"""
LAZY_PURCHASES = """consumer_id,from_second_store_sales,realtime_message
1,1.00,1
2,0,0
3,0,1
4,0,0
5,0,1
6,0,0
9,0,1
11,0,0
12,$5,1
12,-1,0
13,0,2
14,1.234,0
15,,1
"""


def test_lazy_validation_reports_every_problem_in_one_run(tmp_path: Path, store: Store) -> None:
    c, p = tmp_path / "c.csv", tmp_path / "p.csv"
    c.write_text(LAZY_CONSUMERS)
    p.write_text(LAZY_PURCHASES)
    with pytest.raises(MallImportRefused) as refused:
        import_mall(store, c, p)
    found = {(k.file, k.kind): [e.row for e in k.examples] for k in refused.value.report.problems}
    assert found == {
        ("c.csv", "age_below_18"): [3],
        ("c.csv", "age_not_whole"): [4],
        ("c.csv", "gender_unknown"): [5],
        ("c.csv", "loyalty_unknown"): [6],
        ("c.csv", "id_duplicate"): [7, 8],
        ("c.csv", "id_scientific"): [9],
        ("c.csv", "invalid_row"): [10],
        ("c.csv", "id_empty"): [11],
        ("c.csv", "blank_row"): [12],
        ("c.csv", "age_above_100"): [13],
        ("p.csv", "sales_not_decimal"): [10],
        ("p.csv", "sales_negative"): [11],
        ("p.csv", "id_duplicate"): [10, 11],
        ("p.csv", "message_unknown"): [12],
        ("p.csv", "sales_decimals"): [13],
        ("p.csv", "sales_missing"): [14],
        # 9's consumer row is unreadable; 13, 14 and 15 are not in c.csv.
        ("p.csv", "no_consumer_row"): [8, 12, 13, 14],
    }
    kinds = [k.kind for k in refused.value.report.problems]
    assert kinds.index("no_consumer_row") > kinds.index("sales_missing")  # consequences last
    assert refused.value.row == 3 and refused.value.column == "age"
    text = str(refused.value)
    assert "the row has 3 field(s) but the header has 4" in text
    assert "duplicate consumer_id 6: rows 7 and 8" in text
    assert counts(store) == dict.fromkeys(MALL_TABLES, 0)


def test_quarantine_stores_rejected_rows_with_reasons_and_the_analysis_says_so(
    tmp_path: Path, store: Store
) -> None:
    c, p = tmp_path / "c.csv", tmp_path / "p.csv"
    c.write_text(LAZY_CONSUMERS)
    p.write_text(LAZY_PURCHASES)
    summary = import_mall(store, c, p, quarantine=True)
    # Consumer 12 (written Female/low) is valid, but both its purchase rows are repeats, so
    # it is set aside with them; every other consumer or its purchase row has a problem.
    assert (summary.consumers, summary.treated, summary.control) == (1, 1, 0)
    rejected = store.con.execute(
        "SELECT file, line_no, consumer_id, kinds, reason FROM mall_rejected_row "
        "WHERE experiment_id = 'mall-import' ORDER BY file, line_no"
    ).fetchall()
    by_place = {(f, r): (cid, kinds, reason) for f, r, cid, kinds, reason in rejected}
    assert by_place[("consumer", 3)] == (
        "2", ["age_below_18"], "under-age consumer (age below 18): age '17'"
    )
    assert by_place[("consumer", 10)][0] is None  # the unreadable row: no consumer_id
    assert by_place[("consumer", 10)][1] == ["invalid_row"]
    # Consumer 2's purchase row is fine but set aside with it, saying why.
    assert by_place[("purchase", 3)] == (
        "2", ["partner_set_aside"], "its row in the other file was set aside: c.csv row 3"
    )
    assert sorted(r for f, r in by_place if f == "consumer") == list(range(3, 15))
    assert sorted(r for f, r in by_place if f == "purchase") == list(range(3, 15))
    row_json = store.con.execute(
        "SELECT row_json FROM mall_rejected_row WHERE file = 'purchase' AND line_no = 10"
    ).fetchall()[0][0]
    assert json.loads(row_json) == {
        "consumer_id": "12", "from_second_store_sales": "$5", "realtime_message": "1",
    }  # fmt: skip
    assert summary.report is not None
    assert summary.report.set_aside == {"consumer": 12, "purchase": 12}
    assert counts(store)["mall_consumer"] == 1


def test_quarantined_analysis_says_how_many_rows_were_set_aside(tmp_path: Path) -> None:
    """A larger export with a few bad rows: quarantined, analysed, and the analysis (JSON,
    conclusions) starts by saying what was set aside and why."""
    lines_c = ["consumer_id,age,gender,loyalty_status"]
    lines_p = ["consumer_id,from_second_store_sales,realtime_message"]
    for i in range(1, 301):
        age = 14 if i in (5, 6) else 20 + i % 50
        lines_c.append(f"{i},{age},{'Female' if i % 3 else 'm'},{'high' if i % 2 else '1.0'}")
        lines_p.append(f"{i},{f'{(i * 37) % 90}.25' if i % 4 else '0'},{i % 2}")
    lines_p[10] = "10,-3.00,1"
    (tmp_path / "c.csv").write_text("\n".join(lines_c) + "\n")
    (tmp_path / "p.csv").write_text("\n".join(lines_p) + "\n")
    res = pushlift("import", "mall", "c.csv", "p.csv", "--db", "t.duckdb", "--quarantine",
                   cwd=tmp_path)  # fmt: skip
    assert "Set aside: 3 rows of the consumer file and 3 rows of the purchase file" in res.stdout
    assert "imported 297 consumers" in res.stdout
    analysis = json.loads(
        pushlift("analyze", "experiment", "--db", "t.duckdb", "--json", cwd=tmp_path).stdout
    )
    note = (
        "At import 3 rows of the consumer file and 3 rows of the purchase file were set aside "
        "(--quarantine; the table mall_rejected_row keeps each with its reason): "
        "its row in the other file was set aside: 3, under-age consumer (age below 18): 2, "
        "from_second_store_sales negative: 1. The analysis covers the 297 consumers whose rows "
        "were all valid."
    )
    assert analysis["data_notes"] == [note]
    assert sum(analysis["sample_ratio"]["counts"]) == 297
    terminal = pushlift("analyze", "experiment", "--db", "t.duckdb", cwd=tmp_path).stdout
    assert "were set aside" in " ".join(terminal.split())


def test_buyers_only_without_assigned_says_what_the_files_support(tmp_path: Path) -> None:
    damaged_export(tmp_path)
    res = pushlift("import", "mall", "consumer.csv", "purchase.csv", "--db", "t.duckdb",
                   "--quarantine", cwd=tmp_path)  # fmt: skip
    assert "These files support: sales among those who bought again, per arm" in res.stdout
    assert (
        "imported 12 buyers (7 messaged, 5 control) and 37 consumers without a purchase row "
        "(arm unknown)" in res.stdout
    )
    refused = pushlift("analyze", "experiment", "--db", "t.duckdb", cwd=tmp_path, code=2)
    message = " ".join(refused.stderr.split())
    assert "lists only buyers" in message and "cannot be estimated" in message
    assert "--assigned N_TREATED,N_CONTROL" in message
    assert "control $43.36 (5 buyers), message $46.31 (7 buyers)" in message


def test_assigned_lets_the_share_who_bought_again_be_analysed(tmp_path: Path) -> None:
    c, p, want = damaged_export(tmp_path)
    store = Store.open(tmp_path / "t.duckdb")
    try:
        summary = import_mall(store, c, p, quarantine=True, assigned=(30, 26))
        spec = mall_spec(store)
        result = analyze_experiment(store.con, spec)
    finally:
        store.close()
    # Kept buyers: the intact ones except the under-age consumer's row (set aside with it).
    kept = {i: arm for i, arm in want.buyer_ids.items() if i != honest_id(UNDER_AGE)}
    n_kept = {a: sum(1 for x in kept.values() if x == a) for a in ("control", "message")}
    assert (summary.treated, summary.control) == (n_kept["message"], n_kept["control"])
    # Each arm's units: the planned size less the purchase rows set aside (the damaged ids
    # and the under-age buyer), of which the kept buyers bought.
    set_aside = {a: want.buyers[a] - n_kept[a] for a in ("control", "message")}
    units = {"control": 26 - set_aside["control"], "message": 30 - set_aside["message"]}
    assert dict(zip(result.sample_ratio.arms, result.sample_ratio.counts, strict=True)) == units
    share = next(o for o in result.outcomes if o.outcome == "made_second_purchase")
    sales = next(o for o in result.outcomes if o.outcome == "from_second_store_sales")
    for arm in ("control", "message"):
        a = next(x for x in share.arms if x.arm == arm)
        assert a.mean == pytest.approx(n_kept[arm] / units[arm], rel=1e-12)
        total = sum(want.buyer_sales_cents[i] for i, x in kept.items() if x == arm) / 100
        s = next(x for x in sales.arms if x.arm == arm)
        assert s.mean == pytest.approx(total / units[arm], rel=1e-12)
    assert result.balance == () and result.subgroups == ()
    assumption = result.data_notes[1]
    assert assumption.startswith("Assumption: purchase.csv lists only buyers")
    assert "--assigned (message 30, control 26)" in assumption
    assert "every consumer not in purchase.csv bought nothing from a second store" in assumption
    non_buyers = {a: 30 - want.buyers["message"] if a == "message" else 26 - want.buyers["control"]
                  for a in ("message", "control")}  # fmt: skip
    assert (
        f"{non_buyers['message']} message and {non_buyers['control']} control consumers counted "
        "with zero sales" in assumption
    )
    # The terminal says it too.
    out = pushlift("analyze", "experiment", "--db", "t.duckdb", cwd=tmp_path).stdout
    assert "Assumption: purchase.csv lists only buyers" in " ".join(out.split())


def test_assigned_is_checked(tmp_path: Path, store: Store) -> None:
    c, p, want = damaged_export(tmp_path / "damaged")
    with pytest.raises(PushliftError, match="lists 10 buyers in it"):
        import_mall(store, c, p, quarantine=True, assigned=(9, 26))
    complete_c, complete_p = tmp_path / "c.csv", tmp_path / "p.csv"
    complete_c.write_text("consumer_id,age,gender,loyalty_status\n1,30,F,1\n2,31,M,2\n")
    complete_p.write_text("consumer_id,from_second_store_sales,realtime_message\n1,0,1\n2,3,0\n")
    with pytest.raises(PushliftError, match="only buyers"):
        import_mall(store, complete_c, complete_p, assigned=(1, 1))
    bad = pushlift("import", "mall", complete_c, complete_p, "--db", "cli.duckdb",
                   "--assigned", "ten", cwd=tmp_path, code=2)  # fmt: skip
    assert "--assigned must be N_TREATED,N_CONTROL" in bad.stderr
    assert counts(store) == dict.fromkeys(MALL_TABLES, 0)


def test_real_spellings_are_read_as_codes(tmp_path: Path, store: Store) -> None:
    c, p = tmp_path / "c.csv", tmp_path / "p.csv"
    c.write_text(
        "consumer_id,age,gender,loyalty_status\n"
        "1,25,Female,1.0\n2,34.0,MALE,2.0\n3,61,f,low\n4,18,male,HIGH\n5,40,M,2\n"
    )
    p.write_text(
        "consumer_id,from_second_store_sales,realtime_message\n"
        "1,1.00,1.0\n2,0,0.0\n3,2,1\n4,0,0\n5,3.5,1\n"
    )
    summary = import_mall(store, c, p)
    assert store.con.execute(
        "SELECT consumer_id, age, gender, loyalty, arm FROM mall_units ORDER BY 1"
    ).fetchall() == [
        (1, 25, "F", "low", "message"),
        (2, 34, "M", "high", "control"),
        (3, 61, "F", "low", "message"),
        (4, 18, "M", "high", "control"),
        (5, 40, "M", "high", "message"),
    ]
    assert summary.report is not None
    assert {(s.column, s.written): s.rows for s in summary.report.spellings} == {
        ("gender", "f/m (lower case)"): 1,
        ("gender", "Female/Male (any case)"): 3,
        ("age", "a decimal such as 34.0"): 1,
        ("loyalty_status", "1.0/2.0"): 2,
        ("loyalty_status", "low/high (any case)"): 2,
        ("realtime_message", "0.0/1.0"): 2,
    }


def test_cr_line_endings_and_huge_sales_are_messages(tmp_path: Path, store: Store) -> None:
    c, p = tmp_path / "c.csv", tmp_path / "p.csv"
    c.write_bytes(b"consumer_id,age,gender,loyalty_status\r1,30,F,1\r2,31,M,2\r")
    p.write_bytes(b"consumer_id,from_second_store_sales,realtime_message\r1,0,1\r2,3,0\r")
    assert import_mall(store, c, p).consumers == 2
    p.write_text(
        "consumer_id,from_second_store_sales,realtime_message\n1,999999999999999.99,1\n2,0,0\n"
    )
    with pytest.raises(MallImportRefused, match="implausibly large") as refused:
        import_mall(store, c, p, experiment_id="huge")
    assert (refused.value.row, refused.value.column) == (2, "from_second_store_sales")


def test_rounding_is_told_apart_from_chance() -> None:
    # Sequential ids 1..n: runs of zeros exactly as often as chance gives.
    for n in (9032, 100_000):
        ids = [str(i) for i in range(1, n + 1)]
        assert rounded_zeros(_zero_counts(ids), n) is None
    # Twelve-digit ids with a few rounded to six significant digits.
    honest = [str(honest_id(i)) for i in range(HONEST)]
    assert rounded_zeros(_zero_counts(honest), HONEST) is None
    assert rounded_zeros(_zero_counts(honest + list(ROUNDED)), HONEST + len(ROUNDED)) == 6
    # One id ending in zeros is not a pattern.
    assert rounded_zeros(_zero_counts([*honest, "603223000000"]), HONEST + 1) is None


def _zero_counts(ids: list[str]) -> dict[int, int]:
    out: dict[int, int] = {}
    for i in ids:
        z = len(i) - len(i.rstrip("0"))
        out[z] = out.get(z, 0) + 1
    return out


def test_the_dashboard_page_says_what_a_buyers_only_import_supports(
    tmp_path: Path, store: Store
) -> None:
    from pushlift.web.db import Database
    from pushlift.web.mall_page import mall

    c, p, _ = damaged_export(tmp_path)
    import_mall(store, c, p, quarantine=True, experiment_id="buyers")
    import_mall(store, c, p, quarantine=True, assigned=(30, 26), experiment_id="assigned")
    db = Database(store)
    page = mall(db, {"experiment": "buyers"})
    assert page["empty"] is not None and "lists only buyers" in page["empty"]
    assert "--assigned N_TREATED,N_CONTROL" in page["empty"]
    page = mall(db, {"experiment": "assigned"})
    assert page["empty"] is None
    assert page["conclusions"][0].startswith("At import 7 rows of the consumer file")
    assert page["conclusions"][1].startswith("Assumption: purchase.csv lists only buyers")
