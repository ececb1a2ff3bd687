"""What `import mall` found and did, as records and as the lines the CLI prints."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pushlift.errors import InputError

EXAMPLES = 5  # rows shown per kind of problem
MODES = ("complete", "buyers-only", "buyers-only-assigned")


@dataclass(frozen=True)
class RowExample:
    """One offending value: where it is and what is wrong with it."""

    file: str
    row: int
    column: str | None
    value: str
    message: str


@dataclass(frozen=True)
class ProblemKind:
    """Every row of one file with one kind of problem: how many, and the first ones."""

    kind: str
    title: str
    file: str
    rows: int
    examples: tuple[RowExample, ...]


@dataclass(frozen=True)
class Spelling:
    """Values written other than as the stored code, and read as that code."""

    file: str
    column: str
    written: str
    read_as: str
    rows: int


@dataclass(frozen=True)
class Damage:
    """A named pattern of spreadsheet damage or of a partial export, with its count."""

    pattern: str
    title: str
    rows: int
    detail: str


@dataclass(frozen=True)
class BuyersOnly:
    """A purchase file listing only buyers, and what can be said from it."""

    purchase_rows: int
    consumers: int
    buyers: dict[str, int]  # arm -> buyers imported
    mean_sales: dict[str, float]  # arm -> mean sales among them ($)
    assigned: dict[str, int] | None  # --assigned: arm -> planned consumers
    non_buyers: dict[str, int] | None  # with --assigned: arm -> consumers counted with 0


@dataclass(frozen=True)
class MallImportReport:
    """Everything one run of `import mall` checked, in one place (also stored as JSON)."""

    experiment_id: str
    files: tuple[str, str]
    consumer_rows: int
    purchase_rows: int
    mode: str
    spellings: tuple[Spelling, ...]
    damage: tuple[Damage, ...]
    problems: tuple[ProblemKind, ...]
    buyers_only: BuyersOnly | None
    written: bool = False
    quarantine: bool = False
    set_aside: dict[str, int] = field(default_factory=dict)  # file -> rows set aside
    set_aside_reasons: dict[str, int] = field(default_factory=dict)  # title -> rows
    units: int = 0  # consumers imported with both rows (the analysed units)

    @property
    def problem_rows(self) -> int:
        return sum(p.rows for p in self.problems)

    def supports(self) -> tuple[list[str], list[str]]:
        """(analyses the imported data supports, analyses it cannot support)."""
        if self.mode == "complete":
            return [
                "sales from the second store onwards per consumer, the share who bought "
                "again and sales among those who bought again: effects, regression "
                "adjustment, segments"
            ], []
        if self.mode == "buyers-only":
            return [
                "sales among those who bought again, per arm: a description, not an effect "
                "(the message changes who buys again)"
            ], [
                "the share who bought again and sales per consumer (the arm of a consumer "
                "without a purchase row is unknown)",
                "regression adjustment and segment effects",
            ]
        return [
            "sales per consumer, the share who bought again and sales among those who bought "
            "again, overall, assuming every consumer without a purchase row bought nothing "
            "from a second store and the --assigned arm sizes are the numbers randomized"
        ], [
            "regression adjustment, covariate balance and segment effects (the arm of a "
            "non-buyer is unknown, so covariates cannot be compared between arms)"
        ]

    def set_aside_text(self) -> str:
        return " and ".join(f"{rows(n)} of the {f} file" for f, n in self.set_aside.items())

    def analysis_notes(self) -> list[str]:
        """The lines an analysis of this experiment repeats about its data."""
        notes = []
        if self.set_aside:
            reasons = ", ".join(f"{t}: {n:,}" for t, n in self.set_aside_reasons.items())
            files = self.set_aside_text()
            covers = (
                f" The analysis covers the {self.units:,} consumers whose rows were all valid."
                if self.mode == "complete"
                else ""
            )
            notes.append(
                f"At import {files} were set aside (--quarantine; the table mall_rejected_row "
                f"keeps each with its reason): {reasons}.{covers}"
            )
        b = self.buyers_only
        if b is not None and b.assigned is not None and b.non_buyers is not None:
            given = ", ".join(f"{a} {n:,}" for a, n in b.assigned.items())
            zeros = " and ".join(f"{n:,} {a}" for a, n in b.non_buyers.items())
            left_out = sum(b.assigned.values()) - sum(b.non_buyers.values()) - self.units
            out = (
                f", and the {left_out:,} consumers of purchase rows set aside are left out"
                if left_out
                else ""
            )
            notes.append(
                f"Assumption: purchase.csv lists only buyers, so the arm sizes are the planned "
                f"ones given with --assigned ({given}) and every consumer not in purchase.csv "
                f"bought nothing from a second store: the analysis covers the {self.units:,} "
                f"buyers imported and {zeros} consumers counted with zero sales{out}. Covariate "
                "balance, regression adjustment and segment effects are not available: the arm "
                "of a non-buyer is unknown."
            )
        return notes

    def lines(self) -> list[str]:
        """The report as the CLI prints it."""
        c_file, p_file = (Path(f).name for f in self.files)
        out = [f"{c_file}: {self.consumer_rows:,} rows; {p_file}: {self.purchase_rows:,} rows"]
        if self.spellings:
            out.append("Recognised spellings (read as the codes):")
            out += [
                f"  {s.column} written as {s.written}: {rows(s.rows)}, read as {s.read_as}"
                for s in self.spellings
            ]
        if self.damage:
            out.append("Spreadsheet damage and partial exports:")
            out += [f"  {d.title}: {rows(d.rows)}; {d.detail}" for d in self.damage]
        if self.buyers_only is not None:
            out += self._buyers_lines()
        if self.problems:
            files = {}
            for p in self.problems:
                files[p.file] = files.get(p.file, 0) + p.rows
            where = ", ".join(f"{n:,} in {f}" for f, n in files.items())
            out.append(f"Problems ({len(self.problems)} kinds; rows with each: {where}):")
            for p in self.problems:
                out.append(f"  {p.title} — {rows(p.rows)} in {p.file}:")
                out += [f"    {_where(e)}: {e.message}" for e in p.examples]
                if p.rows > len(p.examples):
                    out.append(f"    … and {p.rows - len(p.examples):,} more")
        if self.written:
            if self.set_aside:
                files = self.set_aside_text()
                out.append(
                    f"Set aside: {files}, stored with their reasons in mall_rejected_row "
                    f"(experiment {self.experiment_id})."
                )
        elif self.problems:
            out.append(
                "Nothing was written. Fix the files and import again, or pass --quarantine to "
                "import the valid rows and set aside each row with a problem (stored with its "
                "reason)."
            )
        supported, unsupported = self.supports()
        if unsupported:
            out.append("These files support: " + "; ".join(supported) + ".")
            out.append("They cannot support: " + "; ".join(unsupported) + ".")
        return out

    def _buyers_lines(self) -> list[str]:
        b = self.buyers_only
        assert b is not None
        described = ", ".join(
            f"{a} ${b.mean_sales[a]:,.2f} ({b.buyers[a]:,} buyers)" for a in b.buyers
        )
        out = [
            f"purchase.csv lists only buyers: {b.purchase_rows:,} rows, none with zero sales, "
            f"for {b.consumers:,} consumers. The arm of a consumer without a purchase row is "
            "unknown, so the files alone cannot estimate the share who bought again or sales "
            "per consumer.",
            f"  Sales among those who bought again: {described}.",
        ]
        if b.assigned is None:
            out.append(
                "  To analyse the share who bought again, pass the planned arm sizes: "
                "--assigned N_TREATED,N_CONTROL."
            )
        else:
            given = ", ".join(f"{a} {n:,}" for a, n in b.assigned.items())
            out.append(
                f"  --assigned {given}: every consumer not in purchase.csv is counted as a "
                "non-buyer of the planned arms."
            )
        return out


def rows(n: int) -> str:
    return f"{n:,} row" + ("" if n == 1 else "s")


def _where(e: RowExample) -> str:
    where = f"row {e.row}"
    return where + (f", {e.column}" if e.column else "")


class MallImportRefused(InputError):
    """The files have problems and --quarantine was not given: nothing was written. Names
    the first problem (file, row, column) and carries the whole report."""

    def __init__(self, report: MallImportReport, first: RowExample) -> None:
        self.report = report
        super().__init__(first.message, file=first.file, row=first.row, column=first.column)
        self.args = (f"{self.args[0]}\n" + "\n".join(report.lines()),)
