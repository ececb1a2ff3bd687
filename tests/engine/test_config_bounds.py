"""No config can brick the engine: every number is bounded, true/false is not a number,
polygons are simple and city-sized; anything else is one InputError naming the field.

The fuzz test at the end throws random numbers (huge, infinite, NaN, booleans) and random
polygons at every section and checks that a config either builds a Plan or is refused.
"""

from __future__ import annotations

import copy
import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pushlift import schema
from pushlift.engine import config as config_module
from pushlift.engine import geo
from pushlift.engine.config import MAX_DURATION_S, EngineConfig, parse_config, parse_duration
from pushlift.engine.geo import MAX_GRID_ENTRIES
from pushlift.engine.kernel import kernel_plan
from pushlift.engine.plan import Plan
from pushlift.engine.state import EngineState
from pushlift.errors import InputError
from pushlift.serve import config_versions
from pushlift.store import Store

DEG_PER_M = 1 / 111_195  # degrees of latitude per metre, near enough


def base() -> dict[str, Any]:
    """A small valid config touching every bounded field."""
    return {
        "frequency_cap": {"max": 2, "per": "4h"},
        "auction": {"type": "second_price", "reserve_cents": 5},
        "vendors": [{"id": "v1", "domain": "v1.example", "lat": 40.0, "lon": -3.7}],
        "zones": [
            {"id": "z1", "circle": {"lat": 40.0, "lon": -3.7, "radius_m": 100}},
            {"id": "z2", "polygon": square(40.01, -3.7, 200)},
        ],
        "segments": [
            {"id": "recent", "kind": "in_zone", "zone": "z2", "within": "7d"},
            {"id": "buyer", "kind": "purchased_at", "vendor": "v1", "within": "30d"},
            {"id": "browsed", "kind": "visited_site", "vendor": "v1", "within": 3600},
        ],
        "offers": [
            {
                "id": "o1",
                "vendor": "v1",
                "content": "hi",
                "zone": "z1",
                "segments": ["recent"],
                "max_bid_cents": 120,
                "budget_cents": 50_000,
                "daily_budget_cents": 5_000,
                "cap_per_subscriber": 2,
            }
        ],
        "experiments": [
            {
                "id": "e",
                "seed": 7,
                "arms": [
                    {"name": "control", "weight": 0.1, "holdout": True},
                    {"name": "treatment", "weight": 0.9},
                ],
            }
        ],
    }


def square(lat: float, lon: float, side_m: float) -> list[list[float]]:
    d = side_m * DEG_PER_M
    return [[lat, lon], [lat + d, lon], [lat + d, lon + d], [lat, lon + d]]


def with_value(path: str, value: object) -> dict[str, Any]:
    """The base config with the field at `path` (dots; list items as numbers) set."""
    data = base()
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
    node: Any = data
    for part in parents:
        node = node[part]
    node[last] = value
    return data


def refusal(data: object) -> InputError:
    with pytest.raises(InputError) as caught:
        parse_config(data, "cfg.yaml")
    return caught.value


def test_the_base_config_is_valid() -> None:
    Plan(parse_config(base(), "cfg.yaml"))


HUGE = 1e30
NUMBERS = [
    ("offers.0.max_bid_cents", HUGE, "offers[0].max_bid_cents", "less than or equal to 1000000000"),
    ("offers.0.max_bid_cents", 10**19, "offers[0].max_bid_cents", "less than or equal to"),
    (
        "offers.0.budget_cents",
        HUGE,
        "offers[0].budget_cents",
        "less than or equal to 1000000000000",
    ),
    ("offers.0.daily_budget_cents", HUGE, "offers[0].daily_budget_cents", "less than or equal"),
    ("offers.0.cap_per_subscriber", HUGE, "offers[0].cap_per_subscriber", "less than or equal"),
    ("auction.reserve_cents", HUGE, "auction.reserve_cents", "less than or equal to 1000000000"),
    ("frequency_cap.max", HUGE, "frequency_cap.max", "less than or equal to 100"),
    ("frequency_cap.max", 101, "frequency_cap.max", "less than or equal to 100"),
    ("frequency_cap.per", 1e20, "frequency_cap.per", "give a duration like"),
    ("frequency_cap.per", 10**20, "frequency_cap.per", "at most 3650d (10 years)"),
    ("segments.0.within", "99999999999d", "segments[0].within", "at most 3650d (10 years)"),
    ("segments.0.within", "3651d", "segments[0].within", "at most 3650d"),
    ("segments.1.within", "100000000000000m", "segments[1].within", "at most 3650d"),
    ("segments.2.within", -5, "segments[2].within", "must be positive"),
    ("zones.0.circle.radius_m", math.inf, "zones[0].circle.radius_m", "finite number"),
    ("zones.0.circle.radius_m", math.nan, "zones[0].circle.radius_m", "finite number"),
    ("zones.0.circle.radius_m", 50_001, "zones[0].circle.radius_m", "less than or equal to 50000"),
    ("zones.0.circle.lat", math.nan, "zones[0].circle.lat", "finite number"),
    ("vendors.0.lon", -math.inf, "vendors[0].lon", "finite number"),
    ("experiments.0.arms.0.weight", math.inf, "experiments[0].arms[0].weight", "finite number"),
    ("experiments.0.arms.1.weight", math.nan, "experiments[0].arms[1].weight", "finite number"),
    ("experiments.0.arms.1.weight", 1e7, "experiments[0].arms[1].weight", "less than or equal"),
    ("experiments.0.seed", 10**30, "experiments[0].seed", "less than or equal to 92233720368"),
    ("experiments.0.seed", -(10**30), "experiments[0].seed", "greater than or equal to -922337"),
    ("offers.0.max_bid_cents", math.inf, "offers[0].max_bid_cents", "finite number"),
]


@pytest.mark.parametrize(("path", "value", "field", "message"), NUMBERS)
def test_numbers_out_of_bounds_name_the_field(
    path: str, value: object, field: str, message: str
) -> None:
    error = refusal(with_value(path, value))
    assert error.field == field
    assert message in error.detail


BOOLS = [
    ("offers.0.max_bid_cents", "offers[0].max_bid_cents"),
    ("offers.0.budget_cents", "offers[0].budget_cents"),
    ("offers.0.daily_budget_cents", "offers[0].daily_budget_cents"),
    ("offers.0.cap_per_subscriber", "offers[0].cap_per_subscriber"),
    ("auction.reserve_cents", "auction.reserve_cents"),
    ("frequency_cap.max", "frequency_cap.max"),
    ("zones.0.circle.radius_m", "zones[0].circle.radius_m"),
    ("zones.0.circle.lat", "zones[0].circle.lat"),
    ("vendors.0.lat", "vendors[0].lat"),
    ("experiments.0.arms.0.weight", "experiments[0].arms[0].weight"),
    ("experiments.0.seed", "experiments[0].seed"),
]


@pytest.mark.parametrize(("path", "field"), BOOLS)
def test_booleans_are_not_numbers(path: str, field: str) -> None:
    error = refusal(with_value(path, True))
    assert error.field == field
    assert "not true/false" in error.detail


@pytest.mark.parametrize(
    ("path", "field"),
    [("frequency_cap.per", "frequency_cap.per"), ("segments.0.within", "segments[0].within")],
)
def test_booleans_are_not_durations(path: str, field: str) -> None:
    error = refusal(with_value(path, True))
    assert error.field == field
    assert "give a duration like" in error.detail


def test_polygon_point_flags_are_not_coordinates() -> None:
    error = refusal(with_value("zones.1.polygon.0", [True, -3.7]))
    assert error.field == "zones[1].polygon[0][0]"
    assert "not true/false" in error.detail


def test_whole_numbers_written_as_floats_still_count() -> None:
    config = parse_config(with_value("offers.0.max_bid_cents", 120.0), "cfg.yaml")
    assert config.offers[0].max_bid_cents == 120


def test_durations_stop_at_ten_years() -> None:
    assert parse_duration("3650d") == MAX_DURATION_S * 1_000_000
    assert parse_duration(MAX_DURATION_S) == MAX_DURATION_S * 1_000_000
    for text in ("3651d", "87601h", MAX_DURATION_S + 1, 10**5000, "1" + "0" * 5000 + "m"):
        with pytest.raises(ValueError, match="at most 3650d"):
            parse_duration(text)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("0d")


def test_a_folder_of_time_zones_is_not_a_time_zone() -> None:
    error = refusal(base() | {"timezone": "America"})
    assert error.field == "timezone"
    assert "unknown time zone 'America'" in error.detail


# -- polygons -------------------------------------------------------------------------------
M = DEG_PER_M  # one metre of latitude, in degrees
POLYGONS = [
    ("world-sized", [[-80, -170], [80, -170], [80, 170], [-80, 170]], "at most 50 km across"),
    ("60 km wide", square(40.0, -3.7, 60_000), "at most 50 km across"),
    (
        "bow-tie",
        [[40, -3.7], [40 + 100 * M, -3.7 + 100 * M], [40, -3.7 + 100 * M], [40 + 100 * M, -3.7]],
        "crosses itself",
    ),
    (
        "figure eight through a shared point",
        [
            [40, -3.7],
            [40 + 50 * M, -3.7 + 50 * M],
            [40 + 100 * M, -3.7],
            [40 + 100 * M, -3.7 + 100 * M],
            [40 + 50 * M, -3.7 + 50 * M],
            [40, -3.7 + 100 * M],
        ],
        "crosses itself",
    ),
    (
        "edge folding back on itself",
        [
            [40, -3.7],
            [40, -3.7 + 100 * M],
            [40 + 100 * M, -3.7 + 100 * M],
            [40 + 50 * M, -3.7 + 100 * M],
        ],
        "crosses itself",
    ),
    ("two distinct points", [[40, -3.7], [40 + 100 * M, -3.7], [40, -3.7]], "at least 3 distinct"),
    ("one point three times", [[40, -3.7], [40, -3.7], [40, -3.7]], "at least 3 distinct"),
    ("collinear", [[40, -3.7], [40 + 50 * M, -3.7], [40 + 100 * M, -3.7]], "all on one line"),
    (
        "collinear, doubling back",
        [[40, -3.7], [40 + 100 * M, -3.7], [40 + 50 * M, -3.7]],
        "all on one line",
    ),
    (
        "a sliver under 1 m2",
        [[40, -3.7], [40, -3.7 + 1.3 * M], [40 + 0.002 * M, -3.7]],
        "square metres; a zone needs at least 1",
    ),
]


@pytest.mark.parametrize(
    ("points", "message"), [p[1:] for p in POLYGONS], ids=[p[0] for p in POLYGONS]
)
def test_bad_polygons_name_the_zone(points: list[list[float]], message: str) -> None:
    error = refusal(with_value("zones.1.polygon", points))
    assert error.field == "zones[1]"
    assert message in error.detail


def test_bow_tie_names_the_crossing_edges() -> None:
    bow_tie = [
        [40, -3.7],
        [40 + 100 * M, -3.7 + 100 * M],
        [40, -3.7 + 100 * M],
        [40 + 100 * M, -3.7],
    ]
    error = refusal(with_value("zones.1.polygon", bow_tie))
    assert "edge from point 0 meets its edge from point 2" in error.detail


def test_too_many_polygon_points() -> None:
    ring = [
        [
            40 + 0.01 * math.sin(2 * math.pi * k / 10_001),
            -3.7 + 0.01 * math.cos(2 * math.pi * k / 10_001),
        ]
        for k in range(10_001)
    ]
    error = refusal(with_value("zones.1.polygon", ring))
    assert error.field == "zones[1].polygon"
    assert "at most 10000 items" in error.detail


def test_all_polygons_together_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config_module, "MAX_TOTAL_POLYGON_POINTS", 7)
    data = base()
    data["zones"].append({"id": "z3", "polygon": square(40.02, -3.7, 100)})  # 4 + 4 points
    error = refusal(data)
    assert error.field == "zones"
    assert "8 polygon points; at most 7 in all" in error.detail


@pytest.mark.parametrize(
    "points",
    [
        square(40.0, -3.7, 49_000),  # large but within bounds
        square(40.0, -3.7, 200) + [square(40.0, -3.7, 200)[0]],  # closed by repeating point 0
        [
            [40, -3.7],
            [40 + 100 * M, -3.7],
            [40 + 100 * M, -3.7 + 100 * M],
            [40 + 50 * M, -3.7 + 10 * M],
            [40, -3.7 + 100 * M],
        ],  # concave
        [[40, -3.7], [40 + 50 * M, -3.7], [40 + 100 * M, -3.7], [40 + 100 * M, -3.7 + 100 * M]],
    ],
    ids=["49 km square", "closed ring", "concave", "with a point on an edge"],
)
def test_good_polygons_are_kept(points: list[list[float]]) -> None:
    config = parse_config(with_value("zones.1.polygon", points), "cfg.yaml")
    assert config.zones[1].polygon == [tuple(p) for p in points]
    Plan(config)


def _meets(p1: tuple, p2: tuple, q1: tuple, q2: tuple) -> bool:
    """Scalar segment test, written out: the referee for the vectorised sweep."""

    def side(a: tuple, b: tuple, c: tuple) -> int:
        cross = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
        return (cross > 0) - (cross < 0)

    def within(a: tuple, b: tuple, c: tuple) -> bool:
        return min(a[0], b[0]) <= c[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= c[1] <= max(
            a[1], b[1]
        )

    d = side(q1, q2, p1), side(q1, q2, p2), side(p1, p2, q1), side(p1, p2, q2)
    if d[0] * d[1] < 0 and d[2] * d[3] < 0:
        return True
    ends = [(q1, q2, p1), (q1, q2, p2), (p1, p2, q1), (p1, p2, q2)]
    return any(d[k] == 0 and within(*ends[k]) for k in range(4))


def _simple_by_brute_force(points: list[tuple[int, int]]) -> bool:
    m = len(points)
    edges = [(points[k], points[(k + 1) % m]) for k in range(m)]
    for a in range(m):
        for b in range(a + 1, m):
            if b == a + 1 or (a == 0 and b == m - 1):
                # Adjacent: only the shared point may be common (no folding back).
                shared = edges[a][1] if b == a + 1 else edges[a][0]
                u = edges[a][0] if b == a + 1 else edges[a][1]
                v = edges[b][1] if b == a + 1 else edges[b][0]
                ux, uy, vx, vy = (
                    u[0] - shared[0],
                    u[1] - shared[1],
                    v[0] - shared[0],
                    v[1] - shared[1],
                )
                if ux * vy - uy * vx == 0 and ux * vx + uy * vy > 0:
                    return False
            elif _meets(*edges[a], *edges[b]):
                return False
    return True


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), min_size=3, max_size=9, unique=True),
    st.sampled_from([1, 3, 1 << 20]),
)
def test_the_crossing_sweep_agrees_with_all_pairs(
    points: list[tuple[int, int]], chunk: int
) -> None:
    # Small integer grids make touching, collinear and overlapping edges common.
    saved = geo._PAIRS_PER_CHUNK
    geo._PAIRS_PER_CHUNK = chunk  # small chunks exercise the chunking too
    try:
        x = np.array([p[0] for p in points], dtype=np.int64)
        y = np.array([p[1] for p in points], dtype=np.int64)
        assert (geo._crossing(x, y) is None) == _simple_by_brute_force(points)
    finally:
        geo._PAIRS_PER_CHUNK = saved


def test_the_zone_grid_stays_small_for_large_and_tiny_zones_together() -> None:
    # Mostly tiny zones make 50 m cells; 50 km circles would each cover 4 million of them.
    zones = [
        {"id": f"z{i}", "circle": {"lat": 40 + i * 0.01, "lon": -3.7, "radius_m": r}}
        for i, r in enumerate([1.0] * 60 + [50_000.0] * 40)
    ]
    data = base() | {"zones": zones, "segments": []}
    data["offers"][0]["segments"] = []
    plan = Plan(parse_config(data, "cfg.yaml"))
    assert len(plan.zones.cell_zones) <= MAX_GRID_ENTRIES
    assert plan.zones.cell_m > 50


# -- restart on the newest valid version ----------------------------------------------------
def store_version(store: Store, version: int, data: dict[str, Any] | str, change: str) -> None:
    """Insert a version directly, as an older release (or a hand edit) may have."""
    store.append(
        schema.CONFIG_VERSION,
        {
            "version": [version],
            "config_json": [data if isinstance(data, str) else json.dumps(data)],
            "change": [change],
            "created_at": [datetime.now(UTC)],
        },
    )


def test_live_skips_a_stored_version_that_no_longer_validates(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s.duckdb")
    try:
        good = parse_config(base(), "cfg.yaml")
        assert config_versions.apply(store, good, "--config cfg.yaml") == 1
        # Stored before the bounds existed: a radius no zone can have.
        store_version(store, 2, with_value("zones.0.circle.radius_m", 1e30), "PUT /v1/zones/z1")
        notes: list[str] = []
        current = config_versions.live(store, note=notes.append)
        assert current is not None
        assert current[0] == 1 and current[1] == good
        assert len(notes) == 1
        assert "config version 2" in notes[0] and "zones[0].circle.radius_m" in notes[0]
        # Restarting with it stores it again on top, so the highest version is live again.
        assert config_versions.apply(store, current[1], "restart") == 3
        assert config_versions.live(store, note=notes.append) == (3, good)
        assert len(notes) == 1
    finally:
        store.close()


def test_live_is_none_when_no_version_validates(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s.duckdb")
    try:
        store_version(store, 1, with_value("offers.0.max_bid_cents", True), "--config a.yaml")
        store_version(store, 2, "{not json", "hand edit")
        notes: list[str] = []
        assert config_versions.live(store, note=notes.append) is None
        assert len(notes) == 2
        assert "version 2: it is not JSON" in notes[0]
        assert "version 1: it no longer validates" in notes[1]
        assert "offers[0].max_bid_cents: give a number, not true/false" in notes[1]
        assert config_versions.apply(store, parse_config(base(), "c"), "--config b.yaml") == 3
    finally:
        store.close()


# -- fuzzing: a Plan, or an InputError, never anything else ---------------------------------
wild_numbers = st.one_of(
    st.integers(-(10**40), 10**40),
    st.integers(-5, 200),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-1e3, 1e6),
    st.booleans(),
    # at and just past the bounds
    st.sampled_from([0, 1, 100, 101, 50_000, 10**9, 10**12, 10**12 + 1, 2**63 - 1, 2**63]),
    st.sampled_from([1e6, 1e30, -0.0, 5e-324, 90.0, -180.0]),
)
durations = st.one_of(
    wild_numbers,
    st.sampled_from(["90s", "30m", "4h", "7d", "3650d", "3651d", "0d", "99999999999d", "", "x"]),
    st.builds(lambda n, u: f"{n}{u}", st.integers(-5, 10**15), st.sampled_from("smhdy")),
)


@st.composite
def polygons(draw: st.DrawFn) -> list[list[object]]:
    """Star-shaped rings (simple unless shuffled, and then they often cross) of any size
    from a millimetre to the world, degenerate ones, or wild numbers."""
    if draw(st.integers(0, 4)) == 0:
        return [[draw(wild_numbers), draw(wild_numbers)] for _ in range(draw(st.integers(0, 5)))]
    n = draw(st.integers(3, 12))
    lat, lon = draw(st.floats(-89.9, 89.9)), draw(st.floats(-179.9, 179.9))
    radius_m = draw(st.sampled_from([1e-4, 0.01, 1.0, 300.0, 300.0, 20_000.0, 30_000.0, 1e7]))
    # Angles increasing by less than half a turn keep the ring simple around its centre.
    jitter = draw(st.lists(st.floats(0, 0.5), min_size=n, max_size=n))
    reach = draw(st.lists(st.floats(0.2, 1), min_size=n, max_size=n))
    points = [
        [
            lat + radius_m * r * math.sin(2 * math.pi * (k + j) / n) * DEG_PER_M,
            lon + radius_m * r * math.cos(2 * math.pi * (k + j) / n) * DEG_PER_M,
        ]
        for k, (j, r) in enumerate(zip(jitter, reach, strict=True))
    ]
    return draw(st.permutations(points)) if draw(st.integers(0, 3)) == 0 else points


@st.composite
def configs(draw: st.DrawFn) -> dict[str, Any]:
    """The base config with about one field in ten replaced by something wild."""
    data = copy.deepcopy(base())
    wild = st.one_of(wild_numbers, st.none())

    def mutate(node: dict[str, Any], key: str, values: st.SearchStrategy[Any] = wild) -> None:
        if draw(st.integers(0, 9)) == 0:
            node[key] = draw(values)

    mutate(data, "timezone", st.sampled_from(["UTC", "Europe/Madrid", "America", "Mars/X", ""]))
    mutate(data["frequency_cap"], "max", wild_numbers)
    mutate(data["frequency_cap"], "per", durations)
    mutate(data["auction"], "reserve_cents", wild_numbers)
    for key in ("lat", "lon", "radius_m"):
        mutate(data["zones"][0]["circle"], key, wild_numbers)
    data["zones"][1]["polygon"] = draw(polygons())
    mutate(data["vendors"][0], "lat")
    for segment in data["segments"]:
        mutate(segment, "within", durations)
    offer = data["offers"][0]
    for key in ("budget_cents", "daily_budget_cents", "cap_per_subscriber"):
        mutate(offer, key)
    mutate(offer, "max_bid_cents", wild_numbers)
    mutate(offer, "valid_until", st.one_of(wild, st.just("9999-12-31T23:59:59-23:59")))
    experiment = data["experiments"][0]
    mutate(experiment, "seed", wild_numbers)
    for arm in experiment["arms"]:
        mutate(arm, "weight", wild_numbers)
    if draw(st.booleans()):
        offer["zone"] = "z2"  # the polygon triggers it
    return data


def build(config: EngineConfig) -> None:
    """Everything the engine builds from a config before it sees an event."""
    plan = Plan(config)
    kernel_plan(plan)
    state = EngineState(plan)
    state.subscribers(np.arange(3, dtype=np.int64))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configs())
def test_any_config_builds_a_plan_or_is_refused(data: dict[str, Any]) -> None:
    try:
        config = parse_config(data, "fuzz.yaml")
    except InputError as e:
        assert e.detail  # refused, with a reason
        return
    build(config)
