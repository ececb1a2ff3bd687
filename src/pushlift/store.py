"""Open or create the DuckDB store and append rows to it in batches, all or nothing."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path

import duckdb
import pyarrow as pa

from pushlift.errors import PushliftError
from pushlift.ops import busy_message, request_snapshot
from pushlift.schema import TABLES, VIEWS, Table, upgrade_legacy

# Every command's store unless --db or $PUSHLIFT_DB says otherwise; the demo writes it too.
DEFAULT_DB = Path("out/pushlift.duckdb")
# DuckDB's message when another process holds the file: "... (PID 1234) ..."
_LOCK_HELD = re.compile(r"Could not set lock.*?PID (\d+)", re.S)
SMALL_APPEND = 16  # rows; below this, binding values beats registering an Arrow table


class StoreBusy(PushliftError):
    """Another process holds the store."""


class Store:
    """One process's handle on the database. DuckDB allows one writer per file."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        # DuckDB refuses (rather than waits for) a second call on a busy connection, so
        # threads make their cursors, and the owner closes, one at a time.
        self._handle_lock = threading.Lock()
        self._depth = 0  # open transaction() blocks; only the outermost one talks to DuckDB
        self._copy: Path | None = None  # a snapshot this handle reads, deleted on close

    @classmethod
    def open(cls, path: str | Path = DEFAULT_DB) -> Store:
        """Open (creating if needed) the store at `path`; ':memory:' gives a throwaway store.
        A store another process holds is a one-line PushliftError naming that process."""
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        try:
            con = duckdb.connect(str(path))
        except duckdb.IOException as e:
            held = _LOCK_HELD.search(str(e))
            if held is None:
                raise
            raise StoreBusy(busy_message(path, int(held.group(1)))) from None
        store = cls(con)
        store.migrate()
        return store

    @classmethod
    @contextmanager
    def writing(cls, path: str | Path = DEFAULT_DB) -> Iterator[Store]:
        """The store for a command that writes, closed afterwards. If the command fails and
        the store did not exist before, no empty store file is left behind (one that holds
        what the command committed before failing, e.g. earlier stdin batches, is kept)."""
        new = str(path) != ":memory:" and not Path(path).exists()
        store = cls.open(path)
        try:
            yield store
        except BaseException:
            empty = new and store.is_empty()
            store.close()
            if empty:
                for leftover in (Path(path), Path(f"{path}.wal")):
                    leftover.unlink(missing_ok=True)
            raise
        store.close()

    def is_empty(self) -> bool:
        """No table holds a row."""
        counts = " + ".join(f"(SELECT count(*) FROM {t.name})" for t in TABLES)
        return self.con.execute(f"SELECT {counts}").fetchall()[0][0] == 0

    @classmethod
    def open_for_reading(cls, path: str | Path = DEFAULT_DB) -> Store:
        """The store for a command that only reads. If another process owns it and makes
        copies on request (`pushlift serve` does, within a second), a consistent copy of
        it, deleted again on `close`: reading never waits for the writer to stop."""
        if not Path(path).exists():
            raise PushliftError(
                f"no store at {path} (chosen by --db, else $PUSHLIFT_DB, else {DEFAULT_DB}); "
                "create one with `python3 dev.py demo`, `pushlift simulate mall|city`, "
                "`pushlift import mall|crm` or `pushlift run`"
            )
        try:
            return cls.open(path)
        except StoreBusy:
            copy = request_snapshot(path)
        store = cls(duckdb.connect(str(copy)))
        store._copy = copy
        store.migrate()
        return store

    def migrate(self) -> None:
        """Create any missing table and (re)create the analysis views."""
        upgrade_legacy(self.con)
        for table in TABLES:
            self.con.execute(table.ddl())
        for view in VIEWS:
            self.con.execute(view)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Everything inside is written together or not at all.

        A block opened inside another joins it (DuckDB has no nested transactions): the
        outermost block commits everything, or rolls everything back on an error. So
        writers that each keep their own writes whole compose into one larger unit.
        """
        outer = self._depth == 0
        if outer:
            self.con.execute("BEGIN TRANSACTION")
        self._depth += 1
        try:
            yield
        except BaseException:
            if outer:
                self.con.execute("ROLLBACK")
            raise
        finally:
            self._depth -= 1
        if outer:
            self.con.execute("COMMIT")

    def append(self, table: Table, columns: Mapping[str, object]) -> int:
        """Append rows given as column arrays (numpy arrays or lists) in one batch.

        Columns must be exactly the table's columns; returns the number of rows written.
        """
        missing = set(table.column_names) - set(columns)
        extra = set(columns) - set(table.column_names)
        if missing or extra:
            raise ValueError(
                f"rows for table {table.name!r}: missing columns {sorted(missing)}, "
                f"unexpected columns {sorted(extra)}"
            )
        batch = pa.table({name: columns[name] for name in table.column_names})
        names = ", ".join(table.column_names)
        if batch.num_rows <= SMALL_APPEND:  # a request's rows: bound values, no Arrow scan
            if batch.num_rows:
                row = f"({', '.join('?' * batch.num_columns)})"
                values = [v for r in batch.to_pylist() for v in r.values()]
                self.con.execute(
                    f"INSERT INTO {table.name} ({names}) VALUES "
                    + ", ".join([row] * batch.num_rows),
                    values,
                )
            return batch.num_rows
        self.con.register("_pushlift_batch", batch)
        try:
            self.con.execute(
                f"INSERT INTO {table.name} ({names}) SELECT {names} FROM _pushlift_batch"
            )
        finally:
            # After a failed INSERT the transaction is aborted and unregistering fails too;
            # the INSERT's error is the one worth reporting (registering again replaces it).
            with suppress(duckdb.Error):
                self.con.unregister("_pushlift_batch")
        return batch.num_rows

    def delete_experiment(self, experiment_id: str) -> None:
        """Remove one experiment and everything keyed by it (to replace it); the rows of
        every other experiment stay as they are, whatever ids their units share."""
        owned = (
            "purchase",
            "trip",
            "mall_consumer",
            "mall_import",
            "mall_rejected_row",
            "notification",
            "mall_outcome",
            "mall_history",
            "true_effect",
            "experiment",
            "assignment",
        )
        for name in owned:
            self.con.execute(f"DELETE FROM {name} WHERE experiment_id = ?", [experiment_id])

    def has_experiment(self, experiment_id: str) -> bool:
        row = self.con.execute(
            "SELECT count(*) FROM experiment WHERE experiment_id = ?", [experiment_id]
        ).fetchall()[0]
        return bool(row and row[0])

    def cursor(self) -> Store:
        """Another handle on the same database, for another thread (a DuckDB connection
        must not be used by two threads at once; its cursors share the data)."""
        with self._handle_lock:
            return Store(self.con.cursor())

    def close(self) -> None:
        with self._handle_lock:
            self.con.close()
        if self._copy is not None:
            for leftover in (self._copy, self._copy.with_name(self._copy.name + ".wal")):
                leftover.unlink(missing_ok=True)
