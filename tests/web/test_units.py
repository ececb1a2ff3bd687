"""The dashboard's small parts: number formatting, the map projection, the stdin reader."""

from __future__ import annotations

import os
import threading
import time

import pytest

from pushlift.engine.stream import ndjson_batches
from pushlift.report.numbers import fmt, fmt_ci
from pushlift.web.map_page import HEIGHT, WIDTH, Projection, map_svg


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (1234, "count", "1,234"),
        (153.35, "count", "153.3"),  # the float is 153.3499...: exact value, not its repr
        (0.0625, "share", "6.3%"),  # exact tie: half away from zero
        (-0.0625, "share", "-6.3%"),
        (5454723, "cents", "$54,547.23"),
        (-12.5, "cents", "-$0.13"),
        (-0.4, "cents", "$0.00"),  # no "-$0.00"
        (12.345, "dollars", "$12.35"),  # 12.3450000000000006394884621841...
        (73.2866, "ratio", "73.29"),
        (0.0907, "pp", "9.1 pp"),
        (0.0004, "p", "<0.001"),
        (0.0123, "p", "0.012"),
        (None, "share", "—"),
        (float("nan"), "ratio", "—"),
    ],
)
def test_fmt(value: float | None, unit: str, text: str) -> None:
    assert fmt(value, unit) == text


def test_fmt_ci() -> None:
    assert fmt_ci(0.01, 0.02, "share") == "1.0% to 2.0%"
    assert fmt_ci(None, 0.02, "share") == ""


def test_projection_keeps_everything_inside_and_north_up() -> None:
    lats, lons = [40.37, 40.46], [-3.77, -3.64]
    proj = Projection(lats, lons)
    for lat in lats:
        for lon in lons:
            x, y = proj.xy(lat, lon)
            assert 0 <= x <= WIDTH and 0 <= y <= HEIGHT
    assert proj.xy(40.46, -3.7)[1] < proj.xy(40.37, -3.7)[1]  # north is up
    # Equal scale: 1 km east and 1 km north are the same length on the map.
    east = proj.xy(40.41, -3.7 + 1000 / (111_320 * proj.kx))[0] - proj.xy(40.41, -3.7)[0]
    north = proj.xy(40.41, -3.7)[1] - proj.xy(40.41 + 1000 / 111_320, -3.7)[1]
    assert east == pytest.approx(north, abs=0.2)
    assert proj.meters(1000) == pytest.approx(north, abs=0.2)


def test_map_svg_draws_zones_and_dots() -> None:
    data = {
        "zones": [
            {"key": "a", "shape": "circle", "notifications": 3,
             "geometry": {"lat": 40.41, "lon": -3.70, "radius_m": 300}},
            {"key": "b", "shape": "polygon", "notifications": 0,
             "geometry": [[40.42, -3.71], [40.43, -3.71], [40.43, -3.69]]},
        ],
        "points": [{"lat": 40.41, "lon": -3.70, "delivered": True},
                   {"lat": 40.425, "lon": -3.705, "delivered": False}],
    }  # fmt: skip
    svg = map_svg(data)
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert svg.count('class="zone"') == 2 and svg.count('class="dot"') == 2
    assert map_svg({"zones": [], "points": []}) == ""


LINE = '{"event_id": %d, "kind": "location", "subscriber_id": 1, "time": "2026-03-02T09:00:%02dZ", "lat": 1, "lon": 1}\n'  # noqa: E501


def test_stdin_batches_end_at_a_pause_not_only_at_the_end() -> None:
    read, write = os.pipe()
    batches = ndjson_batches(os.fdopen(read, "rb"), idle_seconds=0.05)
    os.write(write, "".join(LINE % (i, i) for i in range(3)).encode())
    first = next(batches)  # arrives while the writer is still open
    assert first.event_id.tolist() == [0, 1, 2]
    # A line split across writes is kept whole; the last line may lack its newline.
    text = "".join(LINE % (i, i) for i in range(3, 6)).rstrip("\n")

    def writer() -> None:
        os.write(write, text[:40].encode())
        time.sleep(0.2)  # longer than the idle pause: the reader sees half a line first
        os.write(write, text[40:].encode())
        os.close(write)

    thread = threading.Thread(target=writer)
    thread.start()
    rest = [b.event_id.tolist() for b in batches]  # ends at end of stream, after the close
    thread.join(timeout=10)
    assert sum(rest, []) == [3, 4, 5]


def test_the_version_is_the_version_of_the_counts_it_reports(tmp_path, monkeypatch) -> None:
    """A commit between reading the version and reading the counts gave a version older
    than its counts; a page then waited for a version that never came back (the live test
    failed about one run in six on a loaded machine). Here every read sees a new commit."""
    from fastapi.testclient import TestClient

    from pushlift.store import Store
    from pushlift.web.app import create_app
    from pushlift.web.db import Database

    commits = iter(range(1, 1000))
    real = Database.counts

    def moving(self: Database) -> dict[str, int]:
        counts = real(self)
        return counts | {"events": next(commits)}  # the engine committed meanwhile

    monkeypatch.setattr(Database, "counts", moving)
    store = Store.open(tmp_path / "s.duckdb")
    try:
        with TestClient(create_app(store, warm=False)) as client:
            for _ in range(3):
                v = client.get("/api/version").json()
                assert v["version"].split("-")[0] == str(v["counts"]["events"])
    finally:
        store.close()


def test_charts_show_the_year_when_the_data_span_years() -> None:
    from pushlift.web.charts import trend_svg

    def point(day: str) -> dict[str, object]:
        return {"day": day, "notifications": 3, "held_out": 1, "conversions": 1,
                "revenue_cents": 0, "spend_cents": 0}  # fmt: skip

    spanning = trend_svg([point("2019-10-07"), point("2026-03-02")])
    assert ">2019-10-07</text>" in spanning and ">2026-03-02</text>" in spanning
    one_year = trend_svg([point("2026-03-01"), point("2026-03-02")])
    assert ">03-01</text>" in one_year and ">2026-03-01</text>" not in one_year


def test_csv_cells_never_become_spreadsheet_formulas() -> None:
    from pushlift.web.csv_tables import to_csv

    data = {"rows": [{"key": "=HYPERLINK(\"http://x\")", "value": -0.5, "note": "@sum", "ok": True,
                      "none": None, "plain": "Corner Cafe"}]}  # fmt: skip
    text, name = to_csv(data, None)
    assert name == "rows"
    header, row = text.splitlines()
    assert header == "key,value,note,ok,none,plain"
    assert row == '"\'=HYPERLINK(""http://x"")",-0.5,\'@sum,true,,Corner Cafe'
