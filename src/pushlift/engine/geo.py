"""Zones and the spatial index that finds the zones containing a point.

Coordinates are projected once onto a local plane in metres (equirectangular around the
zones' centre: exact enough at city scale, and cheap). A uniform grid maps each cell to the
zones whose bounding box touches it; the exact test (circle or polygon) runs only on those.
The scalar functions (one point) and the vector functions (many points) use the same
floating-point operations in the same order, so they always agree, even on a zone's edge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pushlift.engine.config import Zone

EARTH_RADIUS_M = 6_371_008.8
KEY_OFFSET = 1 << 30  # keeps grid coordinates positive inside the int64 cell key


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
