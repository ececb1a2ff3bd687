"""`pushlift run` and a bad clock: an event dated years ahead is refused as `future`, is
neither stored nor decided, and every later event is decided as if it had never come."""

from __future__ import annotations

import json
from pathlib import Path

from web.process import pushlift  # tests/ is on sys.path

from pushlift.store import Store

CONFIG = {
    "vendors": [{"id": "cafe"}],
    "zones": [{"id": "plaza", "circle": {"lat": 40.0, "lon": -3.7, "radius_m": 300}}],
    "offers": [{"id": "coffee", "vendor": "cafe", "content": "2x1", "zone": "plaza",
                "max_bid_cents": 40}],
}  # fmt: skip


def ping(event_id: int, when: str) -> str:
    return json.dumps({"event_id": event_id, "kind": "location", "subscriber_id": event_id,
                       "time": when, "lat": 40.0, "lon": -3.7}) + "\n"  # fmt: skip


def test_an_event_dated_2030_neither_moves_the_clock_nor_stops_later_events(
    tmp_path: Path,
) -> None:
    config = tmp_path / "engine.json"
    config.write_text(json.dumps(CONFIG))
    db = tmp_path / "s.duckdb"
    (tmp_path / "future.ndjson").write_text(ping(1, "2030-01-01T00:00:00Z"))
    (tmp_path / "normal.ndjson").write_text(
        "".join(ping(10 + i, f"2026-03-02T10:00:0{i}Z") for i in range(5))
    )
    said = pushlift("run", tmp_path / "future.ndjson", "--config", config, "--db", db)
    assert "1 events dated more than 5m ahead" in said and "(future)" in said
    said = pushlift("run", tmp_path / "normal.ndjson", "--config", config, "--db", db)
    assert "0 late" in said
    store = Store.open(db)
    try:
        stored = store.con.execute("SELECT event_id FROM event ORDER BY 1").fetchall()
        notified = store.con.execute("SELECT count(*) FROM notification").fetchall()[0][0]
    finally:
        store.close()
    assert [r[0] for r in stored] == [10, 11, 12, 13, 14]
    assert notified == 5


def test_max_skew_is_an_option_and_a_bad_one_is_named(tmp_path: Path) -> None:
    config = tmp_path / "engine.json"
    config.write_text(json.dumps(CONFIG))
    (tmp_path / "e.ndjson").write_text(ping(1, "2026-03-02T10:00:00Z"))
    import subprocess

    from web.process import PUSHLIFT

    done = subprocess.run(
        [str(PUSHLIFT), "run", str(tmp_path / "e.ndjson"), "--config", str(config),
         "--db", str(tmp_path / "s.duckdb"), "--max-skew", "soon"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 2
    assert "--max-skew" in done.stderr and "Traceback" not in done.stderr
