"""`pushlift run` semantics over a real store: restarts, replays, bad input and bad config."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pushlift.engine.config import load_config, parse_config
from pushlift.engine.engine import OUTCOMES, Engine
from pushlift.engine.plan import Plan
from pushlift.engine.runner import run
from pushlift.engine.stream import COLUMNS, read_events, write_ndjson
from pushlift.errors import InputError
from pushlift.store import Store

from .scenarios import random_config, random_stream


def stored_notes(store: Store) -> list[tuple]:
    return store.con.execute(
        "SELECT event_id, offer_id, price_cents, delivered FROM notification ORDER BY event_id"
    ).fetchall()


def test_restart_and_replay_match_one_uninterrupted_pass(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    config = random_config(rng)
    stream = random_stream(rng, 6000, 120)
    write_ndjson(stream.take(slice(0, 2500)), tmp_path / "a.ndjson")
    write_ndjson(stream.take(slice(2000, 6000)), tmp_path / "b.ndjson")  # overlaps a

    store = Store.open(tmp_path / "s.duckdb")
    first = run(store, Plan(config), [read_events(tmp_path / "a.ndjson")])
    store.close()
    store = Store.open(tmp_path / "s.duckdb")  # a new process: state rebuilt from the store
    second = run(store, Plan(config), [read_events(tmp_path / "b.ndjson")])
    assert second.already_stored == 500
    replay = run(store, Plan(config), [read_events(tmp_path / "a.ndjson")])
    assert replay.already_stored == 2500 and replay.decided == 0

    engine = Engine(Plan(config))
    whole = engine.decide_batch(stream)
    plan = engine.plan
    want = sorted(
        (int(stream.event_id[p]), plan.offer_ids[o], int(price), bool(d))
        for p, o, price, d in zip(
            whole.position, whole.offer, whole.price_cents, whole.delivered, strict=True
        )
    )
    assert stored_notes(store) == want
    assert first.outcomes["delivered"] + second.outcomes["delivered"] == sum(d for *_, d in want)
    counts = dict(
        store.con.execute(
            "SELECT outcome, sum(events) FROM decision_count GROUP BY outcome"
        ).fetchall()
    )
    expected = np.bincount(whole.outcome, minlength=len(OUTCOMES))
    assert {k: v for k, v in counts.items()} == {
        OUTCOMES[i]: int(n) for i, n in enumerate(expected) if n
    }
    assert store.con.execute("SELECT count(*) FROM event").fetchall()[0][0] == 6000


def test_late_events_are_stored_but_not_decided(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    config = random_config(rng)
    stream = random_stream(rng, 1000, 30)
    store = Store.open(tmp_path / "s.duckdb")
    run(store, Plan(config), [stream.take(slice(500, 1000))])
    summary = run(store, Plan(config), [stream.take(slice(0, 500))])
    assert summary.late == 500 and summary.decided == 0
    late = store.con.execute(
        "SELECT sum(events) FROM decision_count WHERE outcome = 'late'"
    ).fetchall()[0][0]
    assert late == 500


@pytest.mark.parametrize(
    ("line", "where", "message"),
    [
        (
            '{"event_id": 1, "kind": "location", "subscriber_id": 3, "time": "2026-01-01T10:00"}',
            "row 2, column 'time'",
            "no UTC offset",
        ),
        (
            '{"event_id": 1, "kind": "walk", "subscriber_id": 3, "time": "2026-01-01T10:00:00Z"}',
            "row 2, column 'kind'",
            "'walk' is not one of",
        ),
        (
            '{"event_id": 1, "kind": "location", "subscriber_id": 3, "time": "2026-01-01T10:00Z",'
            ' "lat": 95, "lon": 1}',
            "row 2, column 'lat'",
            "outside [-90, 90]",
        ),
        (
            '{"event_id": 1, "kind": "purchase", "subscriber_id": 3, "time": "2026-01-01T10:00Z",'
            ' "vendor_id": "v1"}',
            "row 2, column 'amount_cents'",
            "integer cents",
        ),
        (
            '{"event_id": "x1", "kind": "location", "subscriber_id": 3, "time": "2026-01-01Z"}',
            "row 2, column 'event_id'",
            "'x1' is not an integer",
        ),
        ('{"event_id": 1, "kind": "location", "subscriber_id": 3, ', "row 2", "not valid JSON"),
        (
            '{"event_id": 7, "kind": "location", "subscriber_id": 3, "time": "2026-01-01T10:00Z",'
            ' "lat": 1, "lon": 1}',
            "row 2, column 'event_id'",
            "duplicate event id 7",
        ),
    ],
)
def test_bad_events_name_row_and_column(tmp_path: Path, line: str, where: str, message: str):
    good = (
        '{"event_id": 7, "kind": "location", "subscriber_id": 3, '
        '"time": "2026-01-01T09:00:00Z", "lat": 1.0, "lon": 2.0}'
    )
    path = tmp_path / "events.ndjson"
    path.write_text(good + "\n" + line + "\n")
    with pytest.raises(InputError) as caught:
        read_events(path)
    assert str(caught.value).startswith(f"{path}, {where}: ")
    assert message in str(caught.value)


def test_csv_events_read_like_ndjson(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    stream = random_stream(rng, 300, 10)
    write_ndjson(stream, tmp_path / "e.ndjson")
    rows = [json.loads(x) for x in (tmp_path / "e.ndjson").read_text().splitlines()]
    lines = [",".join(COLUMNS)] + [",".join(str(r.get(c, "")) for c in COLUMNS) for r in rows]
    (tmp_path / "e.csv").write_text("\n".join(lines) + "\n")
    a, b = read_events(tmp_path / "e.ndjson"), read_events(tmp_path / "e.csv")
    assert (a.event_id == b.event_id).all() and (a.time_us == b.time_us).all()
    assert np.array_equal(a.lat, b.lat, equal_nan=True)
    assert list(a.vendor_id) == list(b.vendor_id) and list(a.domain) == list(b.domain)


BASE = {
    "vendors": [{"id": "v1"}],
    "zones": [{"id": "z1", "circle": {"lat": 40.0, "lon": -3.7, "radius_m": 100}}],
    "offers": [{"id": "o1", "vendor": "v1", "content": "hi", "zone": "z1", "max_bid_cents": 10}],
}


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (
            {
                "offers": [
                    {"id": "o1", "vendor": "v1", "content": "hi", "zone": "z1", "max_bid_cents": -5}
                ]
            },
            "offers[0].max_bid_cents",
            "greater than 0",
        ),
        (
            {
                "offers": [
                    {"id": "o1", "vendor": "v9", "content": "hi", "zone": "z1", "max_bid_cents": 5}
                ]
            },
            "offers[0].vendor",
            "unknown vendor 'v9'",
        ),
        (
            {"offers": [{"id": "o1", "vendor": "v1", "content": "hi", "max_bid_cents": 5}]},
            "offers[0]",
            "needs a trigger",
        ),
        (
            {"segments": [{"id": "s", "kind": "in_zone", "zone": "z1", "within": "7 weeks"}]},
            "segments[0].within",
            "not a duration",
        ),
        (
            {"segments": [{"id": "s", "kind": "traits", "age_bands": ["20-25"]}]},
            "segments[0].age_bands",
            "unknown age band",
        ),
        ({"zones": [{"id": "z1", "polygon": [[40, -3], [41, -3]]}]}, "zones[0]", "at least 3"),
        (
            {"experiments": [{"id": "e", "arms": [{"name": "a", "weight": 1}]}]},
            "experiments[0].arms",
            "at least 2",
        ),
        ({"timezone": "Mars/Olympus"}, "timezone", "unknown time zone"),
        ({"offer": []}, "offer", "Extra inputs are not permitted"),
    ],
)
def test_bad_config_names_the_field(change: dict, field: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_config(BASE | change, "cfg.yaml")
    assert caught.value.field == field
    assert message in str(caught.value)


def test_yaml_config_loads(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "frequency_cap: {max: 1, per: 1h}\nvendors: [{id: v1}]\n"
        "zones: [{id: z1, circle: {lat: 40, lon: -3.7, radius_m: 100}}]\n"
        "offers:\n  - {id: o1, vendor: v1, content: hi, zone: z1, max_bid_cents: 10}\n"
    )
    config = load_config(path)
    assert config.frequency_cap.per_us == 3_600_000_000
    (tmp_path / "bad.yaml").write_text("offers: [unclosed\n")
    with pytest.raises(InputError, match="not valid YAML"):
        load_config(tmp_path / "bad.yaml")
