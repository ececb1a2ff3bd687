"""Shared fixtures: small simulated mall stores."""

from __future__ import annotations

from pathlib import Path

import pytest

from pushlift.sim import mall
from pushlift.store import Store

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(scope="session")
def small_mall_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store file holding a simulated mall week of 3,000 consumers (seed 5)."""
    path = tmp_path_factory.mktemp("mall") / "mall.duckdb"
    model = mall.MallModel()
    store = Store.open(path)
    mall.write_week(store, mall.simulate_week(3000, 5, model), model, replace=False)
    store.close()
    return path
