"""A bad config given to `pushlift run` or `pushlift serve` stops with one line naming the
field, writes nothing, and leaves no store behind (the cases once gave tracebacks, and one
half-wrote vendors and zones first)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from web.process import PUSHLIFT  # tests/ is on sys.path

GOOD = {
    "vendors": [{"id": "cafe"}],
    "zones": [{"id": "plaza", "circle": {"lat": 40.0, "lon": -3.7, "radius_m": 300}}],
    "offers": [{"id": "coffee", "vendor": "cafe", "content": "2x1", "zone": "plaza",
                "max_bid_cents": 40}],
}  # fmt: skip
BAD = {
    "offers[0].max_bid_cents": '{"offers": [{"max_bid_cents": 1e30}]}',
    "frequency_cap.per": '{"frequency_cap": {"max": 1, "per": 1e20}}',
    "zones[0].circle.radius_m": '{"zones": [{"circle": {"radius_m": 1e999}}]}',
    "segments[0].within": '{"segments": [{"id": "s", "kind": "in_zone", "zone": "plaza", '
    '"within": "99999999999d"}]}',
}


def merged(patch: str) -> str:
    config = json.loads(json.dumps(GOOD))
    for section, value in json.loads(patch).items():
        if isinstance(value, list):
            config.setdefault(section, [{}])
            config[section] = [{**config[section][0], **value[0]}] if config[section] else value
            if section == "zones" and "circle" in value[0]:
                config["zones"][0]["circle"] = {**GOOD["zones"][0]["circle"], **value[0]["circle"]}
        else:
            config[section] = value
    return json.dumps(config).replace("Infinity", "1e999")


@pytest.mark.parametrize("field", sorted(BAD))
@pytest.mark.parametrize("command", ["run", "serve"])
def test_a_bad_config_is_one_line_and_writes_nothing(
    tmp_path: Path, field: str, command: str
) -> None:
    config = tmp_path / "engine.json"
    config.write_text(merged(BAD[field]))
    events = tmp_path / "e.ndjson"
    events.write_text("")
    db = tmp_path / "s.duckdb"
    args = ["run", str(events)] if command == "run" else ["serve", "--port", "1"]
    done = subprocess.run(
        [str(PUSHLIFT), *args, "--config", str(config), "--db", str(db)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    said = " ".join(done.stderr.split())
    assert done.returncode == 2, said
    assert "Traceback" not in said and said.count("error:") == 1
    assert field in said
    assert not db.exists()
