"""The engine config the service decides with, versioned in the store.

Every change (a new config file at start, or an edit through the API) is validated as a
whole and stored as the next version; the highest version is live. A restart without
`--config` continues with the live version.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from pushlift import schema
from pushlift.engine.config import EngineConfig, parse_config
from pushlift.store import Store

SECTIONS = ("vendors", "zones", "segments", "offers", "experiments")


def as_data(config: EngineConfig) -> dict[str, object]:
    """The config as plain JSON-ready data (what the API returns and stores)."""
    return config.model_dump(mode="json", exclude_none=True)


def live(store: Store) -> tuple[int, EngineConfig] | None:
    """The live version and its config, or None when the service never had one."""
    rows = store.con.execute(
        "SELECT version, config_json FROM config_version ORDER BY version DESC LIMIT 1"
    ).fetchall()
    if not rows:
        return None
    version, text = rows[0]
    return int(version), parse_config(json.loads(text), f"config version {version}")


def apply(store: Store, config: EngineConfig, change: str) -> int:
    """Store `config` as the next version unless it equals the live one; returns the live
    version number."""
    current = live(store)
    if current is not None and as_data(current[1]) == as_data(config):
        return current[0]
    version = 1 if current is None else current[0] + 1
    store.append(
        schema.CONFIG_VERSION,
        {
            "version": [version],
            "config_json": [json.dumps(as_data(config), sort_keys=True)],
            "change": [change],
            "created_at": [datetime.now(UTC)],
        },
    )
    return version


def history(store: Store) -> list[dict[str, object]]:
    """Every version with what changed (read on a cursor of its own: any thread may ask)."""
    reader = store.cursor()
    try:
        rows = reader.con.execute(
            "SELECT version, change, strftime(created_at, '%Y-%m-%dT%H:%M:%S.%fZ') "
            "FROM config_version ORDER BY version"
        ).fetchall()
    finally:
        reader.close()
    return [{"version": v, "change": c, "created_at": t} for v, c, t in rows]


def with_item(config: EngineConfig, section: str, item: dict[str, object]) -> EngineConfig:
    """The config with `item` added to `section`, or replacing the item with its id."""
    data = as_data(config)
    items = [x for x in data.get(section, []) if x["id"] != item["id"]]  # type: ignore[union-attr,index]
    old = [x["id"] for x in data.get(section, [])]  # type: ignore[union-attr,index]
    position = old.index(item["id"]) if item["id"] in old else len(items)
    items.insert(position, item)
    data[section] = items
    return parse_config(data, f"{section}/{item['id']}")


def without_item(config: EngineConfig, section: str, item_id: str) -> EngineConfig:
    data = as_data(config)
    data[section] = [x for x in data.get(section, []) if x["id"] != item_id]  # type: ignore[union-attr,index]
    return parse_config(data, f"{section}/{item_id}")
