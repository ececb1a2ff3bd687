"""Import a mall operator's two-table export (consumer.csv, purchase.csv) into the store.

The files are read with every column as text and checked in vectorized DuckDB queries.
Validation is lazy: one run finds every problem of both files, grouped by kind with the
first rows of each (`MallImportReport`), including spreadsheet damage to the ids
(`mall_damage`) and a purchase file that lists only buyers. With any problem nothing is
written (`MallImportRefused`), unless `quarantine`: then the valid rows are imported and
each rejected row is stored with its reason (`mall_rejected_row`). Either way the whole
experiment is written in one transaction, keyed by its id: no other experiment's rows are
touched.

Row numbers are 1-based line numbers of the file, the header being row 1 (quoted values
spanning lines are not allowed, so a record is exactly one line).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from pushlift import schema
from pushlift.errors import PushliftError
from pushlift.ingest import mall_findings as findings
from pushlift.ingest.csvtext import table_columns
from pushlift.ingest.mall_report import MallImportRefused, MallImportReport
from pushlift.ingest.mall_validate import ARMS, MallValidation
from pushlift.store import Store

__all__ = ["ARMS", "MallImportRefused", "MallImportReport", "MallImportSummary", "import_mall"]


@dataclass(frozen=True)
class MallImportSummary:
    """What an import wrote: counts per arm and the total outcome, for the CLI to print;
    `report` has everything the checks found."""

    experiment_id: str
    consumers: int
    treated: int
    control: int
    total_sales_cents: int
    files: tuple[str, str]
    non_buyers: int = 0  # buyers-only files: consumers imported without a purchase row
    report: MallImportReport | None = field(default=None, compare=False, repr=False)


def import_mall(
    store: Store,
    consumer_path: str | Path,
    purchase_path: str | Path,
    *,
    experiment_id: str = "mall-import",
    replace: bool = False,
    quarantine: bool = False,
    assigned: tuple[int, int] | None = None,
) -> MallImportSummary:
    """Check both files completely, then write the experiment in one transaction.

    Raises MallImportRefused (an InputError naming the first problem's file, row and
    column, and carrying the report of all of them) if any row has a problem and
    `quarantine` is false, and PushliftError if the experiment exists and `replace` is
    false; either way nothing is written. With `quarantine`, rows with problems (and the
    other file's row of the same consumer) are set aside and stored with their reasons.
    `assigned` = (treated, control): the planned arm sizes, for a purchase file that lists
    only buyers. The experiment's consumers are its own (keyed by experiment and id):
    another experiment's rows are never touched, whatever ids the two share.
    """
    if not experiment_id.strip():
        raise PushliftError("the experiment id must not be empty")
    if store.has_experiment(experiment_id) and not replace:
        raise PushliftError(
            f"the store already holds experiment {experiment_id!r}; pass --replace to overwrite it"
        )
    if assigned is not None and (min(assigned) < 1):
        raise PushliftError("--assigned needs two positive arm sizes: N_TREATED,N_CONTROL")
    con = duckdb.connect()  # validation never touches the store
    try:
        checked = MallValidation(con, consumer_path, purchase_path, experiment_id, assigned)
        report = findings.report(checked, quarantine)
        if report.problems and not quarantine:
            raise MallImportRefused(report, findings.first_problem(checked))
        rows = checked.rows_to_write()
    finally:
        con.close()
    if not rows["assignment"].num_rows:
        raise PushliftError(
            "no consumer is left to import: every row of the files has a problem (see above)"
        )
    b = report.buyers_only
    if b is not None and b.assigned is not None:
        total = sum(b.assigned.values())
        weights = [b.assigned["control"] / total, b.assigned["message"] / total]
    else:
        weights = [0.5, 0.5]
    source = f"imported:{Path(consumer_path).name},{Path(purchase_path).name}"
    with store.transaction():
        if replace:
            store.delete_experiment(experiment_id)
        store.con.execute(
            "INSERT INTO experiment VALUES (?, ?, ?, ?, ?, ?, now())",
            [
                experiment_id,
                "imported mall export: real-time message vs no message",
                ARMS[0],
                list(ARMS),
                weights,
                source,
            ],
        )
        store.append(schema.MALL_CONSUMER, table_columns(rows["consumer"]))
        store.append(schema.ASSIGNMENT, table_columns(rows["assignment"]))
        store.append(schema.MALL_OUTCOME, table_columns(rows["outcome"]))
        store.append(schema.MALL_REJECTED_ROW, table_columns(rows["rejected"]))
        store.append(
            schema.MALL_IMPORT,
            {
                "experiment_id": [experiment_id],
                "consumer_file": [str(consumer_path)],
                "purchase_file": [str(purchase_path)],
                "mode": [report.mode],
                "assigned_treated": [assigned[0] if assigned else None],
                "assigned_control": [assigned[1] if assigned else None],
                "report_json": [report_json(report)],
                "imported_at": [datetime.now(UTC)],
            },
        )
    arms = rows["assignment"]["arm"].to_pylist()
    treated = sum(1 for a in arms if a == ARMS[1])
    return MallImportSummary(
        experiment_id=experiment_id,
        consumers=len(arms),
        treated=treated,
        control=len(arms) - treated,
        total_sales_cents=sum(rows["outcome"]["from_second_store_sales_cents"].to_pylist()),
        files=(str(consumer_path), str(purchase_path)),
        non_buyers=rows["consumer"].num_rows - len(arms),
        report=report,
    )


def report_json(report: MallImportReport) -> str:
    """The report as stored in `mall_import.report_json`, with the analysis' notes."""

    def plain(x: object) -> object:  # NaN (no buyers in an arm) becomes null
        if isinstance(x, float) and not math.isfinite(x):
            return None
        if isinstance(x, dict):
            return {k: plain(v) for k, v in x.items()}
        if isinstance(x, list | tuple):
            return [plain(v) for v in x]
        return x

    return json.dumps(
        {"report": plain(asdict(report)), "analysis_notes": report.analysis_notes()},
        sort_keys=True,
        allow_nan=False,
    )


