"""Shared helpers of the CRM tests: the real Mercaux exports, imported once per process."""

from __future__ import annotations

import contextlib
import functools
import tempfile
from collections.abc import Iterator
from pathlib import Path

from conftest import SHARED  # tests/conftest.py

from pushlift.ingest.crm import CrmImportResult, import_crm
from pushlift.store import Store

MERCAUX = SHARED / "data" / "mercaux"
SALES, MESSAGES = MERCAUX / "sales.csv", MERCAUX / "outbound.csv"


@functools.cache
def imported() -> tuple[Path, CrmImportResult]:
    """A store file holding the real exports as dataset 'crm', and the import's result."""
    path = Path(tempfile.mkdtemp(prefix="pushlift-crm-")) / "crm.duckdb"
    store = Store.open(path)
    result = import_crm(store, SALES, MESSAGES)
    store.close()
    return path, result


@contextlib.contextmanager
def real_store() -> Iterator[Store]:
    """The imported real store, opened for one test."""
    store = Store.open(imported()[0])
    try:
        yield store
    finally:
        store.close()
