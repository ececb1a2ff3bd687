"""The dashboard's access to the store: a cursor per request, a data version, a cache.

DuckDB lets one process own a file for writing, so the engine (when following a stream)
and the web server share one connection; each thread works on its own cursor.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from pushlift.store import Store

# Tables whose row counts identify what the pages show: any write the dashboard can see
# changes one of them (the engine appends events and notifications in one transaction).
_VERSION_SQL = """
SELECT (SELECT count(*) FROM event), (SELECT count(*) FROM notification),
       (SELECT count(*) FROM decision_count), (SELECT count(*) FROM offer),
       (SELECT count(*) FROM mall_outcome), (SELECT count(*) FROM experiment),
       (SELECT count(*) FROM crm_import), (SELECT count(*) FROM crm_sale_line)
"""
_PARTS = (
    "events",
    "notifications",
    "decision_counts",
    "offers",
    "mall",
    "experiments",
    "crm",
    "crm_lines",
)


class Database:
    """The store as the web app uses it: thread-safe cursors, versioned cached results."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], Any] = {}
        self._key_locks: dict[str, threading.Lock] = {}

    @contextmanager
    def reader(self) -> Iterator[Store]:
        """A store on a fresh cursor, closed afterwards."""
        cursor = self.store.cursor()
        try:
            yield cursor
        finally:
            cursor.close()

    def counts(self) -> dict[str, int]:
        """Row counts of the tables the pages read (cheap: DuckDB keeps them)."""
        with self.reader() as s:
            row = s.con.execute(_VERSION_SQL).fetchall()[0]
        return dict(zip(_PARTS, (int(x) for x in row), strict=True))

    def version(self, parts: tuple[str, ...] = _PARTS, counts: dict[str, int] | None = None) -> str:
        """A string that changes whenever data behind the given parts changes (of `counts`
        when given, so a caller can report the counts and their version together)."""
        counts = counts if counts is not None else self.counts()
        return "-".join(str(counts[p]) for p in parts)

    def cached(self, name: str, version: str, compute: Callable[[Store], Any]) -> Any:
        """`compute(store)` once per (name, version); concurrent callers wait for it."""
        with self._lock:
            key_lock = self._key_locks.setdefault(name, threading.Lock())
        with key_lock:
            hit = self._cache.get((name, version))
            if hit is not None:
                return hit
            with self.reader() as s:
                value = compute(s)
            # Keep only the latest version of each result.
            self._cache = {k: v for k, v in self._cache.items() if k[0] != name}
            self._cache[(name, version)] = value
            return value
