"""The report of what the checks found: kinds of problem with their first rows, accepted
spellings, spreadsheet damage, a buyers-only purchase file, and what was set aside."""

from __future__ import annotations

from pushlift.errors import PushliftError
from pushlift.ingest.csvtext import ROW
from pushlift.ingest.mall_checks import MATCHING, SPELLINGS, TITLES
from pushlift.ingest.mall_damage import EXCESS
from pushlift.ingest.mall_report import (
    EXAMPLES,
    BuyersOnly,
    Damage,
    MallImportReport,
    ProblemKind,
    RowExample,
    Spelling,
)
from pushlift.ingest.mall_validate import ARMS, MallValidation, Source, sql_of


def _message(v: MallValidation, s: Source, kind: str, check_no: int | None, value: str,
             detail: str | None, column: str | None) -> str:  # fmt: skip
    if check_no is not None and column is not None:
        return s.checks[column][check_no].message(value)
    other = v.p.file if s is v.c else v.c.file
    if kind == "invalid_row":
        fields, expected = (detail or "0,0").split(",")
        return (
            f"the row has {fields} field(s) but the header has {expected}; check for "
            "unquoted commas or missing values"
        )
    if kind == "blank_row":
        return "the row is blank; remove empty lines (or rows of empty cells) from the file"
    if kind == "id_rounded":
        return (
            f"consumer_id {value} looks rounded by a spreadsheet ({detail} rows have it; "
            "far more ids end in such a run of zeros than chance allows): its trailing "
            "digits are lost, so it cannot identify a consumer; re-export the file with "
            "consumer_id formatted as text"
        )
    if kind == "id_duplicate":
        *rows, total = (detail or "").split(",")
        listed = ", ".join(rows[:-1]) + f" and {rows[-1]}" if len(rows) > 1 else rows[0]
        more = f" (of {total})" if int(total) > len(rows) else ""
        return (
            f"duplicate consumer_id {value}: rows {listed}{more}; each consumer must appear "
            "once (the rows cannot be told apart)"
        )
    if kind == "no_purchase_row":
        return (
            f"consumer_id {value} has no purchase row in {other}; both files must list the "
            "same consumers"
        )
    if kind == "no_consumer_row":
        return (
            f"consumer_id {value} has no consumer row in {other}; both files must list the "
            "same consumers"
        )
    if kind == "untrusted_match":
        row, matched, k = (detail or ",,").split(",")
        shared = f", shared by {k} rows" if int(k) > 1 else ""
        return (
            f"consumer_id {value} matches only the damaged id {matched} ({other} row "
            f"{row}{shared}); the digits that tell consumers apart are lost, so the match "
            "cannot be trusted"
        )
    return TITLES.get(kind, kind)

def _problem_kinds(v: MallValidation) -> list[tuple[tuple, ProblemKind]]:
    rows = v.con.execute(
        f"""SELECT file, kind, n, first_row, {ROW}, column_name, check_no, value, detail
            FROM (SELECT *, count(*) OVER w AS n, min({ROW}) OVER w AS first_row,
                         row_number() OVER (PARTITION BY file, kind
                                            ORDER BY {ROW}, column_name) AS rn
                  FROM problem WINDOW w AS (PARTITION BY file, kind))
            WHERE rn <= {EXAMPLES} ORDER BY file, kind, {ROW}, column_name"""
    ).fetchall()
    groups: dict[tuple[str, str], list] = {}
    for r in rows:
        groups.setdefault((r[0], r[1]), []).append(r)
    out = []
    for (file, kind), members in groups.items():
        s = v.c if file == "consumer" else v.p
        examples = tuple(
            RowExample(
                s.path,
                int(row),
                column,
                value or "",
                _message(v, s, kind, check_no, value or "", detail, column),
            )
            for _, _, _, _, row, column, check_no, value, detail in members
        )
        tier = 1 if kind in MATCHING else 0
        key = (tier, 0 if file == "consumer" else 1, int(members[0][3]))
        out.append(
            (key, ProblemKind(kind, TITLES.get(kind, kind), s.file, int(members[0][2]),
                              examples))
        )  # fmt: skip
    return sorted(out, key=lambda x: x[0])

def first_problem(v: MallValidation) -> RowExample:
    """The problem to name first: within one file before between files, consumer.csv
    before purchase.csv, the earliest row, the leftmost column."""
    kinds = _problem_kinds(v)
    tier = kinds[0][0][0]
    candidates = [(k[1], e.row, _column_index(v, e), e) for k, p in kinds
                  for e in p.examples if k[0] == tier]  # fmt: skip
    return min(candidates, key=lambda x: x[:3])[3]

def _column_index(v: MallValidation, e: RowExample) -> int:
    columns = v.c.columns if e.file == v.c.path else v.p.columns
    return columns.index(e.column) if e.column in columns else -1

def _spellings(v: MallValidation) -> list[Spelling]:
    out = []
    for s in (v.c, v.p):
        found = SPELLINGS[s.name]
        counts = v.con.execute(
            "SELECT "
            + ", ".join(
                f"count(*) FILTER (WHERE {sql_of(condition, f'trim({column})')})"
                for column, condition, _, _ in found
            )
            + f" FROM {s.relation}"
        ).fetchall()[0]
        for (column, _, written, read_as), n in zip(found, counts, strict=True):
            if n:
                out.append(Spelling(s.file, column, written, read_as, int(n)))
    return out

def _damage(v: MallValidation) -> list[Damage]:
    con = v.con
    out = []
    for s in (v.c, v.p):
        (sci,) = con.execute(
            f"SELECT count(*) FROM {s.staged} WHERE sci_value IS NOT NULL"
        ).fetchall()[0]
        if sci:
            if s is v.p:
                (trusted_none,) = con.execute(
                    """SELECT count(*) FROM p WHERE sci_value IS NOT NULL AND _row NOT IN
                       (SELECT _row FROM problem WHERE file = 'purchase'
                        AND kind = 'untrusted_match')"""
                ).fetchall()[0]
                detail = (
                    f"{trusted_none:,} match no consumer id, {sci - trusted_none:,} match "
                    "only a damaged one (the trailing digits are lost)"
                )
            else:
                detail = "the trailing digits are lost; these consumers cannot be matched"
            out.append(
                Damage("scientific_notation", f"ids in scientific notation in {s.file}",
                       int(sci), detail)
            )  # fmt: skip
        z = v.rounded[s.name]
        if z is not None:
            n, distinct, shared, example, share, ids = con.execute(
                f"""WITH r AS (SELECT id, count(*) AS k FROM {s.staged} WHERE rounded
                               GROUP BY id)
                    SELECT (SELECT sum(k) FROM r), (SELECT count(*) FROM r),
                           (SELECT coalesce(sum(k), 0) FROM r WHERE k > 1),
                           (SELECT arg_max(id, k) FROM r), (SELECT max(k) FROM r),
                           (SELECT count(*) FROM {s.staged} WHERE id IS NOT NULL)"""
            ).fetchall()[0]
            chance = ids * 10.0**-z
            out.append(
                Damage(
                    "rounded_ids",
                    f"ids rounded to trailing zeros in {s.file}",
                    int(n),
                    f"{distinct:,} distinct ids ending in {z} or more zeros (chance gives "
                    f"about {chance:.2g} of {ids:,} ids; {EXCESS}x that is taken as "
                    f"damage); {shared:,} rows share their id with another row, e.g. "
                    f"{example} with {share:,}",
                )
            )
    (untrusted,) = con.execute(
        "SELECT count(*) FROM problem WHERE kind = 'untrusted_match'"
    ).fetchall()[0]
    if untrusted:
        out.append(
            Damage(
                "untrusted_matches",
                "matches between the files that cannot be trusted",
                int(untrusted),
                f"purchase ids that equal a consumer id only where one of the two is rounded "
                f"or in scientific notation ({v.p.file} rows, also counted as problems)",
            )
        )
    if v.buyers_only:
        n_p, n_c = con.execute(
            "SELECT (SELECT count(*) FROM p WHERE NOT blank), "
            "(SELECT count(*) FROM c WHERE NOT blank)"
        ).fetchall()[0]
        out.append(
            Damage(
                "buyers_only",
                f"{v.p.file} lists only buyers",
                int(n_p),
                f"no zero sales and {n_p:,} rows for {n_c:,} consumers: the arm of the "
                "others is unknown",
            )
        )
    return out

def _buyers(v: MallValidation) -> BuyersOnly | None:
    if not v.buyers_only:
        return None
    con = v.con
    n_p, n_c = con.execute(
        "SELECT (SELECT count(*) FROM p WHERE NOT blank), "
        "(SELECT count(*) FROM c WHERE NOT blank)"
    ).fetchall()[0]
    kept = {
        arm: (int(n), float(mean))
        for arm, n, mean in con.execute(
            "SELECT arm, count(*), avg(cents) / 100.0 FROM unit GROUP BY arm"
        ).fetchall()
    }
    buyers = {a: kept.get(a, (0, 0.0))[0] for a in reversed(ARMS)}
    means = {a: kept.get(a, (0, float("nan")))[1] for a in reversed(ARMS)}
    assigned = non_buyers = None
    if v.assigned is not None:
        assigned = {ARMS[1]: v.assigned[0], ARMS[0]: v.assigned[1]}
        # Every readable purchase row is a buyer of its arm, imported or set aside.
        listed = dict.fromkeys(ARMS, 0) | {
            arm: int(n)
            for arm, n in con.execute(
                "SELECT arm, count(*) FROM p WHERE arm IS NOT NULL GROUP BY arm"
            ).fetchall()
        }
        too_many = [a for a in ARMS if listed[a] > assigned[a]]
        if too_many:
            a = too_many[0]
            raise PushliftError(
                f"--assigned gives {assigned[a]:,} consumers in arm {a!r}, but "
                f"{v.p.file} lists {listed[a]:,} buyers in it; give the planned arm "
                "sizes as N_TREATED,N_CONTROL"
            )
        non_buyers = {a: assigned[a] - listed[a] for a in reversed(ARMS)}
    return BuyersOnly(int(n_p), int(n_c), buyers, means, assigned, non_buyers)

def report(v: MallValidation, quarantine: bool) -> MallImportReport:
    con = v.con
    n_c, n_p = (
        con.execute(f"SELECT count(*) FROM {s.relation}").fetchall()[0][0]
        + len(v.invalid[s.name])
        for s in (v.c, v.p)
    )
    problems = tuple(p for _, p in _problem_kinds(v))
    set_aside: dict[str, int] = {}
    reasons: dict[str, int] = {}
    if quarantine and problems:
        for file, n in con.execute(
            "SELECT file, count(*) FROM (SELECT file, _row FROM own UNION "
            "SELECT file, _row FROM partner) GROUP BY file ORDER BY file"
        ).fetchall():
            set_aside[file] = int(n)
        for kind, n in con.execute(
            """SELECT kind, count(*) FROM (
                 SELECT DISTINCT file, _row, kind FROM problem
                 UNION ALL SELECT file, _row, 'partner_set_aside' FROM partner)
               GROUP BY kind ORDER BY count(*) DESC, kind"""
        ).fetchall():
            reasons[TITLES.get(kind, kind)] = int(n)
    (units,) = con.execute("SELECT count(*) FROM unit").fetchall()[0]
    buyers = _buyers(v)
    mode = "complete"
    if buyers is not None:
        mode = "buyers-only" if buyers.assigned is None else "buyers-only-assigned"
    return MallImportReport(
        experiment_id=v.experiment_id,
        files=(v.c.path, v.p.path),
        consumer_rows=int(n_c),
        purchase_rows=int(n_p),
        mode=mode,
        spellings=tuple(_spellings(v)),
        damage=tuple(_damage(v)),
        problems=problems,
        buyers_only=buyers,
        written=not problems or quarantine,
        quarantine=quarantine,
        set_aside=set_aside,
        set_aside_reasons=reasons,
        units=int(units),
    )
