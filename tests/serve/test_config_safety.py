"""A config the engine cannot use is refused whole: never stored, never live, and a
restart always comes up on the last valid version."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pushlift.engine.config import parse_config
from pushlift.ops import ops_path
from pushlift.serve import config_versions
from pushlift.serve.api import create_service_app
from pushlift.serve.keys import KeyRing, create_key
from pushlift.serve.outbox import Feed
from pushlift.serve.service import DecisionService
from pushlift.store import Store

from .service_process import CONFIG


def with_offer(**change: object) -> dict:
    config = copy.deepcopy(CONFIG)
    config["offers"][0].update(change)
    return config


BAD_CONFIGS = {
    "huge bid": with_offer(max_bid_cents=1e30),
    "huge budget": with_offer(budget_cents=10**30),
    "huge cap": with_offer(cap_per_subscriber=10**25),
    "bool bid": with_offer(max_bid_cents=True),
    "huge frequency window": {**CONFIG, "frequency_cap": {"max": 1, "per": 10**20}},
    "world polygon": {
        **CONFIG,
        "zones": [{"id": "plaza", "polygon": [[-89, -179], [89, -179], [89, 179], [-89, 179]]}],
    },
    "bow tie": {
        **CONFIG,
        "zones": [{"id": "plaza", "polygon": [[40, -3.70], [40.01, -3.69], [40, -3.69],
                                              [40.01, -3.70]]}],
    },  # fmt: skip
    "infinite radius": {
        **CONFIG, "zones": [{"id": "plaza", "circle": {"lat": 40, "lon": -3.7,
                                                       "radius_m": float("inf")}}],
    },  # fmt: skip
}


@pytest.fixture()
def served(tmp_path: Path):
    db = tmp_path / "s.duckdb"
    store = Store.open(db)
    key = create_key(db, "w", "write")
    service = DecisionService(store, parse_config(CONFIG, "t"), "t", ops_path(db))
    app = create_service_app(store, service, Feed(store), KeyRing(db), dashboard_needs_key=False)
    with TestClient(app, headers={"x-api-key": key}) as client:
        yield client, service, store, db
    service.close()
    app.state.warm.join(timeout=60)
    store.close()


@pytest.mark.parametrize("name", sorted(BAD_CONFIGS))
def test_a_config_put_that_cannot_be_used_is_refused_and_not_stored(served, name: str) -> None:
    client, service, store, db = served
    before = client.get("/v1/config").json()
    # JSON cannot carry inf: the infinite radius goes as a number too large for a double.
    body = json.dumps(BAD_CONFIGS[name]).replace("Infinity", "1e999")
    answer = client.put("/v1/config", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"]["field"]
    assert client.get("/v1/config").json() == before
    assert [v["version"] for v in client.get("/v1/config/history").json()] == [before["version"]]
    live = config_versions.live(store)
    assert live is not None and live[0] == before["version"]
