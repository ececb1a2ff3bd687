"""The checks of `import mall`, run in SQL on an in-memory DuckDB connection.

Both files are read as text (`csvtext`), typed in one scan that also finds the first
failing check of every value, and checked across rows: ids rounded by a spreadsheet
(`mall_damage`), repeated ids, rows of one file without a row in the other, matches that
cannot be trusted, and a purchase file that lists only buyers. Every problem goes to the
temp table `problem` (file, row, column, kind, value); rows with a problem, and the other
file's row of the same consumer, are set aside. `mall_findings` turns this into the report.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from pushlift.errors import PushliftError
from pushlift.ingest.csvtext import ROW, InvalidRow, check_codes, read_csv_text
from pushlift.ingest.mall_checks import (
    AGE_SQL,
    CONSUMER_CHECKS,
    CONSUMER_COLUMNS,
    DIGITS,
    GENDER_SQL,
    LOYALTY_SQL,
    MESSAGE_SQL,
    PURCHASE_CHECKS,
    PURCHASE_COLUMNS,
    SCIENTIFIC,
    TITLES,
)
from pushlift.ingest.mall_damage import mark_rounded
from pushlift.ingest.mall_report import EXAMPLES

ARMS = ("control", "message")
BUYERS_ONLY_SHARE = 0.8  # a purchase file with no zero sales and at most this share of rows


@dataclass(frozen=True)
class Source:
    name: str  # 'consumer' or 'purchase': the stored file label
    path: str  # as given
    relation: str  # the text table
    staged: str  # the typed table
    checks: dict
    columns: tuple[str, ...]

    @property
    def file(self) -> str:
        return Path(self.path).name


def sql_of(template: str, value: str) -> str:
    return template.format(v=value)


class MallValidation:
    """Both files read, typed and checked: every problem in the temp table `problem`, the
    rows kept and set aside, and what will be written (`rows_to_write`)."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        consumer_path: str | Path,
        purchase_path: str | Path,
        experiment_id: str,
        assigned: tuple[int, int] | None,
    ) -> None:
        self.con, self.experiment_id, self.assigned = con, experiment_id, assigned
        self.c = Source(
            "consumer", str(consumer_path), "consumer_in", "c", CONSUMER_CHECKS, CONSUMER_COLUMNS
        )
        self.p = Source(
            "purchase", str(purchase_path), "purchase_in", "p", PURCHASE_CHECKS, PURCHASE_COLUMNS
        )
        self.invalid: dict[str, list[InvalidRow]] = {}
        for s in (self.c, self.p):
            self.invalid[s.name] = []
            con.register(s.relation, read_csv_text(s.path, s.columns, self.invalid[s.name]))
        con.execute(
            "CREATE TEMP TABLE problem (file VARCHAR, _row BIGINT, column_name VARCHAR, "
            "kind VARCHAR, check_no INTEGER, value VARCHAR, detail VARCHAR)"
        )
        self._stage()
        for s in (self.c, self.p):
            self._row_problems(s)
        self.rounded = {s.name: mark_rounded(con, s.staged) for s in (self.c, self.p)}
        for s in (self.c, self.p):
            self._id_problems(s)
        self.buyers_only = self._detect_buyers_only()
        if assigned is not None and not self.buyers_only:
            raise PushliftError(
                "--assigned is for a purchase file that lists only buyers (no zero sales, "
                "fewer rows than consumers); this purchase file has a row per consumer, so "
                "the arm sizes are known from it: import without --assigned"
            )
        self._matching_problems()
        self._set_aside()

    # -- reading and typing ------------------------------------------------------------

    def _stage(self) -> None:
        def identsql_of(col: str) -> str:
            v = f"trim({col})"
            return f"""{v} AS id_text,
                CASE WHEN regexp_full_match({v}, '{DIGITS}') AND try_cast({v} AS BIGINT) > 0
                     THEN try_cast({v} AS BIGINT) END AS id,
                CASE WHEN regexp_full_match({v}, '{SCIENTIFIC}')
                     THEN try_cast(try_cast({v} AS DOUBLE) AS BIGINT) END AS sci_value,
                false AS rounded"""

        def blank(columns: tuple[str, ...]) -> str:
            return " AND ".join(f"trim({c}) = ''" for c in columns)

        def codes(s: Source) -> str:  # the first check each value fails, if any
            return ", ".join(f'{sql} AS "p_{c}"' for c, sql in check_codes(s.checks).items())

        self.con.execute(
            f"""CREATE TEMP TABLE c AS SELECT {ROW}, {identsql_of("consumer_id")},
                  {sql_of(AGE_SQL, "trim(age)")} AS age,
                  {sql_of(GENDER_SQL, "trim(gender)")} AS gender,
                  {sql_of(LOYALTY_SQL, "trim(loyalty_status)")} AS loyalty_status,
                  {blank(CONSUMER_COLUMNS)} AS blank, {codes(self.c)}
                FROM consumer_in"""
        )
        # DECIMAL(38,2) holds any valid amount exactly; x100 is then an exact integer. (Only
        # valid amounts are kept; longer values are problems of their own.)
        self.con.execute(
            f"""CREATE TEMP TABLE p AS SELECT {ROW}, {identsql_of("consumer_id")},
                  CASE WHEN length(trim(from_second_store_sales)) <= 30 THEN
                    try_cast(try_cast(trim(from_second_store_sales) AS DECIMAL(38, 2)) * 100
                             AS BIGINT) END AS cents,
                  CASE {sql_of(MESSAGE_SQL, "trim(realtime_message)")}
                    WHEN 1 THEN '{ARMS[1]}' WHEN 0 THEN '{ARMS[0]}' END AS arm,
                  {blank(PURCHASE_COLUMNS)} AS blank, {codes(self.p)}
                FROM purchase_in"""
        )

    def _row_problems(self, s: Source) -> None:
        """Blank rows, rows with the wrong number of fields, and every bad value."""
        con = self.con
        if self.invalid[s.name]:
            con.executemany(
                "INSERT INTO problem VALUES (?, ?, NULL, 'invalid_row', NULL, ?, ?)",
                [[s.name, r.row, r.text, f"{r.fields},{r.expected}"]
                 for r in self.invalid[s.name]],
            )  # fmt: skip
        con.execute(
            f"INSERT INTO problem SELECT ?, {ROW}, ?, 'blank_row', NULL, '', NULL "
            f"FROM {s.staged} WHERE blank",
            [s.name, s.columns[0]],
        )
        kinds = ", ".join(
            f"('{column}', {i}, '{check.kind}')"
            for column, checks in s.checks.items()
            for i, check in enumerate(checks)
        )
        flagged = " OR ".join(f'"p_{c}" IS NOT NULL' for c in s.checks)
        con.execute(
            f"CREATE TEMP TABLE flagged_{s.name} AS SELECT t.*, "
            + ", ".join(f'trim(r."{c}") AS "v_{c}"' for c in s.checks)
            + f" FROM {s.staged} t JOIN {s.relation} r ON r.{ROW} = t.{ROW} "
            f"WHERE NOT t.blank AND ({flagged})"
        )
        unpivot = " UNION ALL ".join(
            f"""SELECT {ROW}, '{c}' AS column_name, "p_{c}" AS check_no, "v_{c}" AS value
                FROM flagged_{s.name} WHERE "p_{c}" IS NOT NULL"""
            for c in s.checks
        )
        con.execute(
            f"""INSERT INTO problem
                SELECT ?, v.{ROW}, v.column_name, k.kind, v.check_no, v.value, NULL
                FROM ({unpivot}) v
                JOIN (VALUES {kinds}) k(column_name, check_no, kind)
                  ON k.column_name = v.column_name AND k.check_no = v.check_no""",
            [s.name],
        )

    def _id_problems(self, s: Source) -> None:
        """Rounded ids and ids repeated within the file."""
        self.con.execute(
            f"""INSERT INTO problem
                SELECT ?, {ROW}, 'consumer_id', 'id_rounded', NULL, id_text,
                       CAST(count(*) OVER (PARTITION BY id) AS VARCHAR)
                FROM {s.staged} WHERE rounded""",
            [s.name],
        )
        self.con.execute(
            f"""WITH d AS (
                  SELECT id, count(*) AS k, list({ROW} ORDER BY {ROW}) AS rows
                  FROM {s.staged} WHERE id IS NOT NULL AND NOT rounded
                  GROUP BY id HAVING count(*) > 1)
                INSERT INTO problem
                SELECT ?, t.{ROW}, 'consumer_id', 'id_duplicate', NULL, t.id_text,
                       array_to_string(d.rows[1:{EXAMPLES}], ',') || ',' || d.k
                FROM {s.staged} t JOIN d ON d.id = t.id""",
            [s.name],
        )

    def _detect_buyers_only(self) -> bool:
        n_c, n_p, zeros = self.con.execute(
            """SELECT (SELECT count(*) FROM c WHERE NOT blank),
                      (SELECT count(*) FROM p WHERE NOT blank),
                      (SELECT count(*) FROM p WHERE cents = 0)"""
        ).fetchall()[0]
        return bool(n_p and zeros == 0 and n_p <= BUYERS_ONLY_SHARE * n_c)

    def _matching_problems(self) -> None:
        con = self.con
        if not self.buyers_only:
            con.execute(
                """INSERT INTO problem
                   SELECT 'consumer', c._row, 'consumer_id', 'no_purchase_row', NULL,
                          c.id_text, NULL
                   FROM c WHERE c.id IS NOT NULL AND NOT c.rounded
                     AND NOT EXISTS (SELECT 1 FROM p WHERE p.id = c.id)"""
            )
        con.execute(
            """INSERT INTO problem
               SELECT 'purchase', p._row, 'consumer_id', 'no_consumer_row', NULL, p.id_text, NULL
               FROM p WHERE p.id IS NOT NULL AND NOT p.rounded
                 AND NOT EXISTS (SELECT 1 FROM c WHERE c.id = p.id)"""
        )
        # A purchase id matching a consumer id only where one of the two was damaged.
        con.execute(
            """INSERT INTO problem
               SELECT 'purchase', p._row, 'consumer_id', 'untrusted_match', NULL, p.id_text,
                      min(c._row) || ',' || min(c.id_text) || ',' || count(*)
               FROM p JOIN c ON coalesce(c.id, c.sci_value) = coalesce(p.id, p.sci_value)
               WHERE p.sci_value IS NOT NULL OR p.rounded
                  OR c.sci_value IS NOT NULL OR c.rounded
               GROUP BY p._row, p.id_text"""
        )

    def _set_aside(self) -> None:
        """Rows with a problem, and rows whose row in the other file has one."""
        con = self.con
        con.execute(
            "CREATE TEMP TABLE own AS SELECT DISTINCT file, _row FROM problem "
            "WHERE _row IS NOT NULL"
        )
        con.execute(
            """CREATE TEMP TABLE partner AS
               SELECT 'consumer' AS file, c._row, min(p._row) AS other_row
               FROM c JOIN p ON p.id = c.id
               WHERE (c._row NOT IN (SELECT _row FROM own WHERE file = 'consumer'))
                 AND p._row IN (SELECT _row FROM own WHERE file = 'purchase')
               GROUP BY c._row
               UNION ALL
               SELECT 'purchase', p._row, min(c._row)
               FROM p JOIN c ON c.id = p.id
               WHERE (p._row NOT IN (SELECT _row FROM own WHERE file = 'purchase'))
                 AND c._row IN (SELECT _row FROM own WHERE file = 'consumer')
               GROUP BY p._row"""
        )
        con.execute(
            """CREATE TEMP TABLE kept_c AS SELECT * FROM c WHERE _row NOT IN
                 (SELECT _row FROM own WHERE file = 'consumer'
                  UNION ALL SELECT _row FROM partner WHERE file = 'consumer')"""
        )
        con.execute(
            """CREATE TEMP TABLE kept_p AS SELECT * FROM p WHERE _row NOT IN
                 (SELECT _row FROM own WHERE file = 'purchase'
                  UNION ALL SELECT _row FROM partner WHERE file = 'purchase')"""
        )
        con.execute(
            """CREATE TEMP TABLE unit AS
               SELECT c._row AS c_row, p._row AS p_row, c.id, p.arm, p.cents
               FROM kept_c c JOIN kept_p p ON p.id = c.id"""
        )

    # -- what is written -----------------------------------------------------------------

    def rows_to_write(self) -> dict[str, pa.Table]:
        con, e = self.con, [self.experiment_id]
        consumer = con.sql(
            f"""SELECT ? AS experiment_id, id AS consumer_id, CAST(age AS SMALLINT) AS age,
                       gender, CAST(loyalty_status AS TINYINT) AS loyalty_status
                FROM kept_c
                WHERE {ROW} IN (SELECT c_row FROM unit) OR ?
                ORDER BY {ROW}""",
            params=[*e, self.buyers_only],
        ).to_arrow_table()
        assignment = con.sql(
            "SELECT ? AS experiment_id, id AS unit_id, arm FROM unit ORDER BY p_row", params=e
        ).to_arrow_table()
        outcome = con.sql(
            "SELECT ? AS experiment_id, id AS consumer_id, cents AS from_second_store_sales_cents "
            "FROM unit ORDER BY p_row",
            params=e,
        ).to_arrow_table()
        titles = ", ".join(
            "('{}', '{}')".format(k, t.replace("'", "''")) for k, t in TITLES.items()
        )
        json_of = {
            s.name: "to_json({" + ", ".join(f"'{c}': {c}" for c in s.columns) + "})"
            for s in (self.c, self.p)
        }
        rejected = con.sql(
            f"""WITH r AS (
                  SELECT file, _row, kind, column_name, value FROM problem
                  UNION ALL
                  SELECT file, _row, 'partner_set_aside', NULL,
                         CAST(other_row AS VARCHAR) FROM partner),
                described AS (
                  SELECT r.file, r._row, r.kind,
                         t.title || CASE
                           WHEN r.kind = 'partner_set_aside' THEN ': ' ||
                             CASE r.file WHEN 'consumer' THEN $p_file ELSE $c_file END
                             || ' row ' || r.value
                           WHEN r.kind IN ('invalid_row', 'blank_row') THEN ''
                           ELSE ': ' || coalesce(r.column_name, '') || ' ' || chr(39)
                                || coalesce(r.value, '') || chr(39)
                           END AS reason
                  FROM r JOIN (VALUES {titles}) t(kind, title) ON t.kind = r.kind),
                rows AS (
                  SELECT file, _row, list(DISTINCT kind ORDER BY kind) AS kinds,
                         string_agg(reason, '; ' ORDER BY reason) AS reason
                  FROM described GROUP BY file, _row),
                raw AS (
                  SELECT 'consumer' AS file, {ROW}, consumer_id,
                         {json_of["consumer"]} AS row_json FROM consumer_in
                  UNION ALL
                  SELECT 'purchase', {ROW}, consumer_id, {json_of["purchase"]} FROM purchase_in
                  UNION ALL
                  SELECT file, _row, NULL, to_json({{'line': value}}) FROM problem
                  WHERE kind = 'invalid_row')
                SELECT $e AS experiment_id, rows.file, CAST(rows._row AS INTEGER) AS line_no,
                       raw.consumer_id, rows.kinds, rows.reason,
                       CAST(raw.row_json AS VARCHAR) AS row_json
                FROM rows JOIN raw ON raw.file = rows.file AND raw.{ROW} = rows._row
                ORDER BY rows.file, rows._row""",
            params={"e": self.experiment_id, "c_file": self.c.file, "p_file": self.p.file},
        ).to_arrow_table()
        return {
            "consumer": consumer,
            "assignment": assignment,
            "outcome": outcome,
            "rejected": rejected,
        }
