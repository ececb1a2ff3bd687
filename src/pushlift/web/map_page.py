"""The map: notification zones and where notifications were sent, as an SVG projection.

No tiles (the dashboard works offline): an equirectangular projection scaled by the
cosine of the mean latitude, which is accurate to well under a percent at city scale.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from html import escape
from typing import Any

from pushlift.analysis.kpis import GroupKpis
from pushlift.analysis.results import to_jsonable
from pushlift.web.db import Database
from pushlift.web.kpi_pages import NO_ENGINE_DATA, kpi_data

MAX_POINTS = 5000  # dots drawn; the page says how many of how many
WIDTH, HEIGHT, PAD = 760, 520, 16
METERS_PER_DEGREE = 111_320.0

_POINTS_SQL = """
SELECT n.notification_id, e.lat, e.lon, n.delivered, n.zone_id, n.offer_id
FROM notification n JOIN event e ON e.event_id = n.event_id
WHERE e.lat IS NOT NULL AND e.lon IS NOT NULL
ORDER BY n.notification_id
"""


def _no_notifications(zone: str) -> dict[str, Any]:
    return asdict(GroupKpis.empty(zone))


def map_data(db: Database, params: dict[str, str]) -> dict[str, Any]:
    """Zones (with their KPI row) and notification locations (up to MAX_POINTS)."""
    page: dict[str, Any] = {"title": "Zones and notifications", "counts": db.counts()}
    with db.reader() as s:
        zones = s.con.execute("SELECT zone_id, shape, geometry FROM zone ORDER BY 1").fetchall()
        located = s.con.execute(f"SELECT count(*) FROM ({_POINTS_SQL})").fetchall()[0][0]
        points = s.con.execute(f"{_POINTS_SQL} LIMIT {MAX_POINTS}").fetchall()
    if not zones and not points:
        return page | {"empty": NO_ENGINE_DATA, "zones": [], "points": []}
    report = kpi_data(db)
    stats = {r["key"]: r for r in (report or {}).get("breakdowns", {}).get("zone", [])}
    zone_rows = [
        {"shape": shape, "geometry": json.loads(geometry), **stats.get(z, _no_notifications(z))}
        for z, shape, geometry in zones
    ]
    return page | {
        "empty": None,
        "zone_count": len(zone_rows),
        "located_notifications": int(located),
        "shown_points": len(points),
        "zones": to_jsonable(zone_rows),
        "points": [
            {"id": int(i), "lat": lat, "lon": lon, "delivered": bool(d), "zone": z, "offer": o}
            for i, lat, lon, d, z, o in points
        ],
    }


class Projection:
    """lat/lon to SVG pixels for a bounding box, north up, equal scale both ways."""

    def __init__(self, lats: list[float], lons: list[float]) -> None:
        self.lat0 = (min(lats) + max(lats)) / 2
        self.kx = math.cos(math.radians(self.lat0))
        span_x = max((max(lons) - min(lons)) * self.kx, 1e-6)
        span_y = max(max(lats) - min(lats), 1e-6)
        self.scale = min((WIDTH - 2 * PAD) / span_x, (HEIGHT - 2 * PAD) / span_y)
        self.lon_c, self.lat_c = (min(lons) + max(lons)) / 2, self.lat0

    def xy(self, lat: float, lon: float) -> tuple[float, float]:
        x = WIDTH / 2 + (lon - self.lon_c) * self.kx * self.scale
        y = HEIGHT / 2 - (lat - self.lat_c) * self.scale
        return round(x, 1), round(y, 1)

    def meters(self, m: float) -> float:
        return round(m / METERS_PER_DEGREE * self.scale, 1)


def _extent(zones: list[dict[str, Any]], points: list[dict[str, Any]]) -> tuple[list, list]:
    lats, lons = [p["lat"] for p in points], [p["lon"] for p in points]
    for z in zones:
        g = z["geometry"]
        if z["shape"] == "circle":
            dlat = g["radius_m"] / METERS_PER_DEGREE
            dlon = dlat / max(math.cos(math.radians(g["lat"])), 1e-6)
            lats += [g["lat"] - dlat, g["lat"] + dlat]
            lons += [g["lon"] - dlon, g["lon"] + dlon]
        else:
            lats += [p[0] for p in g]
            lons += [p[1] for p in g]
    return lats, lons


def map_svg(data: dict[str, Any]) -> str:
    """The map as inline SVG: zones shaded by notifications sent, dots per notification."""
    zones, points = data["zones"], data["points"]
    lats, lons = _extent(zones, points)
    if not lats:
        return ""
    proj = Projection(lats, lons)
    most = max([z.get("notifications") or 0 for z in zones] + [1])
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="map of zones and '
        'notifications"><rect width="100%" height="100%" fill="#fafafa" stroke="#ddd"/>'
    ]
    for z in zones:
        g, sent = z["geometry"], z.get("notifications") or 0
        style = f'fill="#3b7dd8" fill-opacity="{0.08 + 0.4 * sent / most:.2f}" stroke="#3b7dd8"'
        # Zone ids are the engine config's: text, escaped for the attribute and the title.
        key = escape(str(z["key"]))
        title = f"<title>zone {key}: {sent:,} sent</title>"
        if z["shape"] == "circle":
            x, y = proj.xy(g["lat"], g["lon"])
            r = proj.meters(g["radius_m"])
            parts.append(
                f'<circle class="zone" data-zone="{key}" cx="{x}" cy="{y}" r="{r}" '
                f"{style}>{title}</circle>"
            )
        else:
            pts = " ".join("{},{}".format(*proj.xy(lat, lon)) for lat, lon in g)
            parts.append(
                f'<polygon class="zone" data-zone="{key}" points="{pts}" {style}>{title}</polygon>'
            )
    for p in points:
        x, y = proj.xy(p["lat"], p["lon"])
        color = "#d6453d" if p["delivered"] else "#888"
        parts.append(f'<circle class="dot" cx="{x}" cy="{y}" r="2.2" fill="{color}"/>')
    scale_m = _nice_scale(WIDTH / 4 / proj.scale * METERS_PER_DEGREE)
    bar = proj.meters(scale_m)
    parts.append(
        f'<g transform="translate({PAD},{HEIGHT - PAD})"><line x1="0" x2="{bar}" y1="0" y2="0" '
        f'stroke="#333" stroke-width="2"/><text x="0" y="-5" font-size="11">'
        f"{_distance(scale_m)}</text></g></svg>"
    )
    return "".join(parts)


def _nice_scale(meters: float) -> float:
    """A round distance (1, 2 or 5 times a power of ten) not above `meters`."""
    power = 10 ** math.floor(math.log10(max(meters, 1)))
    return max(f * power for f in (1, 2, 5) if f * power <= max(meters, 1))


def _distance(meters: float) -> str:
    return f"{meters / 1000:g} km" if meters >= 1000 else f"{meters:g} m"
