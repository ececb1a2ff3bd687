"""Zones and the spatial index that finds the zones containing a point.

Coordinates are projected once onto a local plane in metres (equirectangular around the
zones' centre: exact enough at city scale, and cheap). A uniform grid maps each cell to the
zones whose bounding box touches it; the exact test (circle or polygon) runs only on those.
The scalar functions (one point) and the vector functions (many points) use the same
floating-point operations in the same order, so they always agree, even on a zone's edge.

The grid lists at most MAX_GRID_ENTRIES (cell, zone) pairs: when zones are large or far
apart, cells grow until it does, so no config can exhaust memory building it. Polygons are
checked for use as zones (`polygon_problem`): enough distinct points, bounded size, no
crossing edges, some area.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # config.py imports this module to check polygons
    from pushlift.engine.config import Zone

EARTH_RADIUS_M = 6_371_008.8
KEY_OFFSET = 1 << 30  # keeps grid coordinates positive inside the int64 cell key
MAX_GRID_ENTRIES = 500_000  # (cell, zone) pairs in the grid: a few MB at most
MAX_POLYGON_SPAN_M = 50_000.0  # a zone is city-sized: at most 50 km across either way
MIN_POLYGON_AREA_M2 = 1.0
_PAIRS_PER_CHUNK = 1 << 20  # edge pairs tested at once by the crossing check


@dataclass(frozen=True)
class Projection:
    lat0: float
    lon0: float
    m_per_deg_lat: float
    m_per_deg_lon: float

    @classmethod
    def around(cls, lat0: float, lon0: float) -> Projection:
        m_per_deg = math.pi * EARTH_RADIUS_M / 180.0
        return cls(lat0, lon0, m_per_deg, m_per_deg * math.cos(math.radians(lat0)))

    def point(self, lat: float, lon: float) -> tuple[float, float]:
        return (lon - self.lon0) * self.m_per_deg_lon, (lat - self.lat0) * self.m_per_deg_lat

    def points(self, lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (lon - self.lon0) * self.m_per_deg_lon, (lat - self.lat0) * self.m_per_deg_lat


@dataclass(frozen=True)
class Shape:
    """A zone in plane coordinates: a circle (cx, cy, r) or a polygon (xs, ys)."""

    circle: tuple[float, float, float] | None
    xs: tuple[float, ...] = ()
    ys: tuple[float, ...] = ()

    @classmethod
    def of(cls, zone: Zone, projection: Projection) -> Shape:
        if zone.circle is not None:
            cx, cy = projection.point(zone.circle.lat, zone.circle.lon)
            return cls((cx, cy, zone.circle.radius_m))
        pts = [projection.point(lat, lon) for lat, lon in zone.polygon or ()]
        return cls(None, tuple(p[0] for p in pts), tuple(p[1] for p in pts))

    def bbox(self) -> tuple[float, float, float, float]:
        if self.circle is not None:
            cx, cy, r = self.circle
            return cx - r, cy - r, cx + r, cy + r
        return min(self.xs), min(self.ys), max(self.xs), max(self.ys)


class ZoneIndex:
    """Which zones contain a point: a grid of cells listing the zones that may touch them."""

    def __init__(self, zones: list[Zone], projection: Projection, cell_m: float | None = None):
        self.projection = projection
        self.shapes = [Shape.of(z, projection) for z in zones]
        boxes = [s.bbox() for s in self.shapes]
        if cell_m is None:
            sizes = sorted(max(b[2] - b[0], b[3] - b[1]) for b in boxes) or [500.0]
            cell_m = min(max(sizes[len(sizes) // 2], 50.0), 5_000.0)
        cell_m = _bounded_cell(boxes, cell_m)
        self.cell_m = cell_m
        cells: dict[int, list[int]] = {}
        for zone, (x0, y0, x1, y1) in enumerate(boxes):
            for ix in range(math.floor(x0 / cell_m), math.floor(x1 / cell_m) + 1):
                for iy in range(math.floor(y0 / cell_m), math.floor(y1 / cell_m) + 1):
                    cells.setdefault(self._key(ix, iy), []).append(zone)
        keys = sorted(cells)
        self.cell_keys = np.array(keys, dtype=np.int64)
        counts = np.array([len(cells[k]) for k in keys], dtype=np.int64)
        self.cell_start = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        self.cell_count = counts
        self.cell_zones = np.array([z for k in keys for z in cells[k]], dtype=np.int64)
        # Zone shapes as arrays for the compiled zone test (kernel.py).
        self.is_circle = np.array([s.circle is not None for s in self.shapes], dtype=bool)
        circles = [s.circle or (0.0, 0.0, 0.0) for s in self.shapes]
        self.cx = np.array([c[0] for c in circles], dtype=float)
        self.cy = np.array([c[1] for c in circles], dtype=float)
        self.radius = np.array([c[2] for c in circles], dtype=float)

    @staticmethod
    def _key(ix: int, iy: int) -> int:
        return (ix + KEY_OFFSET) * (1 << 31) + (iy + KEY_OFFSET)


def _grid_entries(boxes: np.ndarray, cell_m: float) -> int:
    """How many (cell, zone) pairs a grid of `cell_m` cells lists (as ZoneIndex counts)."""
    if not len(boxes):
        return 0
    first, last = np.floor(boxes[:, :2] / cell_m), np.floor(boxes[:, 2:] / cell_m)
    return int(np.prod(last - first + 1, axis=1).sum())


def _bounded_cell(boxes: list[tuple[float, float, float, float]], cell_m: float) -> float:
    """`cell_m`, doubled until the grid lists at most MAX_GRID_ENTRIES pairs. Once a cell
    is as large as the largest zone every zone touches at most 4 cells, so it stops."""
    arr = np.array(boxes, dtype=float).reshape(-1, 4)
    largest = float(np.max(arr[:, 2:] - arr[:, :2], initial=0.0))
    while _grid_entries(arr, cell_m) > MAX_GRID_ENTRIES and cell_m < largest:
        cell_m *= 2
    return cell_m


# -- polygon validity -----------------------------------------------------------------------
Ints = np.ndarray  # int64 millimetre coordinates, one per point or segment


def polygon_problem(points: Sequence[tuple[float, float]]) -> str | None:
    """Why `points` ([lat, lon]) cannot be a zone, or None. Checked on a local plane in
    whole millimetres, so the crossing and collinearity tests are exact integer
    arithmetic (coordinates within 50 km keep every product far inside int64)."""
    if len(points) < 3:
        return "a polygon needs at least 3 distinct [lat, lon] points"
    x_m, y_m = _local_plane(points)
    x_mm, y_mm = np.rint(x_m * 1000).astype(np.int64), np.rint(y_m * 1000).astype(np.int64)
    keep = _distinct_ring(x_mm, y_mm)
    x, y = x_mm[keep], y_mm[keep]
    if len(set(zip(x.tolist(), y.tolist(), strict=True))) < 3:
        return "a polygon needs at least 3 distinct [lat, lon] points (1 mm apart)"
    span = max(float(np.ptp(x_m)), float(np.ptp(y_m)))
    if span > MAX_POLYGON_SPAN_M:
        return (
            f"the polygon is {span / 1000:.1f} km across; a zone can be at most "
            f"{MAX_POLYGON_SPAN_M / 1000:.0f} km across"
        )
    if _collinear(x, y):
        return "the polygon's points are all on one line, so it encloses no area"
    crossing = _crossing(x, y)
    if crossing is not None:
        a, b = (int(keep[e]) for e in crossing)
        return (
            f"the polygon crosses itself: its edge from point {a} meets its edge from "
            f"point {b} (give the points in order around the zone)"
        )
    area = _area_m2(x, y)
    if area < MIN_POLYGON_AREA_M2:
        return (
            f"the polygon encloses {area:.3g} square metres; a zone needs at least "
            f"{MIN_POLYGON_AREA_M2:g}"
        )
    return None


def _local_plane(points: Sequence[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
    """Points in metres on a plane centred on their bounding box (any such plane is an
    affine image of the engine's, so crossings and collinearity are the same there)."""
    lat = np.array([p[0] for p in points], dtype=float)
    lon = np.array([p[1] for p in points], dtype=float)
    centre = Projection.around((lat.min() + lat.max()) / 2, (lon.min() + lon.max()) / 2)
    return centre.points(lat, lon)


def _distinct_ring(x: Ints, y: Ints) -> np.ndarray:
    """Indices of the points that differ from the point before them (around the ring):
    repeated points, such as a closing copy of the first, add no edge."""
    moved = (x != np.roll(x, 1)) | (y != np.roll(y, 1))
    return np.flatnonzero(moved) if moved.any() else np.array([0])


def _collinear(x: Ints, y: Ints) -> bool:
    # Consecutive ring points differ, so points 0 and 1 fix the line.
    ux, uy = x[1] - x[0], y[1] - y[0]
    return bool(((x - x[0]) * uy - (y - y[0]) * ux == 0).all())


def _area_m2(x: Ints, y: Ints) -> float:
    xf, yf = x.astype(float) / 1000, y.astype(float) / 1000
    return abs(float(np.sum(xf * np.roll(yf, -1) - np.roll(xf, -1) * yf))) / 2


def _orient(ax: Ints, ay: Ints, bx: Ints, by: Ints, cx: Ints, cy: Ints) -> np.ndarray:
    """-1, 0 or 1: which side of the line a->b the point c is on (exact on int64)."""
    return np.sign((bx - ax) * (cy - ay) - (by - ay) * (cx - ax))


def _on(ax: Ints, ay: Ints, bx: Ints, by: Ints, cx: Ints, cy: Ints) -> np.ndarray:
    """Whether c, known to be on the line a-b, lies on the segment a-b."""
    return (
        (np.minimum(ax, bx) <= cx)
        & (cx <= np.maximum(ax, bx))
        & (np.minimum(ay, by) <= cy)
        & (cy <= np.maximum(ay, by))
    )


def _segments_meet(p: tuple[Ints, ...], q: tuple[Ints, ...]) -> np.ndarray:
    """Whether segments p = (x1, y1, x2, y2) and q meet (crossing or touching), pairwise."""
    d1, d2 = _orient(*q, *p[:2]), _orient(*q, *p[2:])
    d3, d4 = _orient(*p, *q[:2]), _orient(*p, *q[2:])
    return (
        ((d1 * d2 < 0) & (d3 * d4 < 0))
        | ((d1 == 0) & _on(*q, *p[:2]))
        | ((d2 == 0) & _on(*q, *p[2:]))
        | ((d3 == 0) & _on(*p, *q[:2]))
        | ((d4 == 0) & _on(*p, *q[2:]))
    )


def _crossing(x: Ints, y: Ints) -> tuple[int, int] | None:
    """Two edges that meet other than at their shared point (edge k runs from point k to
    point k+1), or None for a simple polygon. Adjacent edges meet wrongly only by folding
    back along each other; other pairs must not meet at all. Pairs are swept in order of
    their edges' left end, so only edges whose x ranges overlap are compared."""
    m = len(x)
    nx, ny = np.roll(x, -1), np.roll(y, -1)
    px, py = np.roll(x, 1), np.roll(y, 1)
    fold = ((px - x) * (ny - y) - (py - y) * (nx - x) == 0) & (
        (px - x) * (nx - x) + (py - y) * (ny - y) > 0
    )
    if fold.any():
        k = int(np.flatnonzero(fold)[0])
        return (k - 1) % m, k
    edges = (x, y, nx, ny)
    left, right = np.minimum(x, nx), np.maximum(x, nx)
    low, high = np.minimum(y, ny), np.maximum(y, ny)
    order = np.argsort(left, kind="stable")
    end = np.searchsorted(left[order], right[order], side="right")
    counts = np.maximum(end - np.arange(m) - 1, 0)
    for first, second in _pair_chunks(counts):
        i, j = order[first], order[second]
        gap = np.abs(i - j)
        test = (gap != 1) & (gap != m - 1) & (low[i] <= high[j]) & (low[j] <= high[i])
        i, j = i[test], j[test]
        meet = _segments_meet(tuple(e[i] for e in edges), tuple(e[j] for e in edges))
        if meet.any():
            k = int(np.flatnonzero(meet)[0])
            a, b = int(i[k]), int(j[k])
            return min(a, b), max(a, b)
    return None


def _pair_chunks(counts: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(first, second) sorted positions: each position k with the `counts[k]` positions
    after it, in chunks of about _PAIRS_PER_CHUNK pairs (memory stays bounded)."""
    total = np.cumsum(counts)
    start = 0
    while start < len(counts):
        done = total[start - 1] if start else 0
        stop = max(int(np.searchsorted(total, done + _PAIRS_PER_CHUNK, side="right")), start + 1)
        n = counts[start:stop]
        first = np.repeat(np.arange(start, stop), n)
        offset = np.arange(len(first)) - np.repeat(np.cumsum(n) - n, n)
        yield first, first + 1 + offset
        start = stop
