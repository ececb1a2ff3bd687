"""The engine config the service decides with, versioned in the store.

Every change (a new config file at start, or an edit through the API) is validated as a
whole and stored as the next version; the highest version is live. A restart without
`--config` continues with the newest version that still validates: one stored before the
config's rules tightened may not, and is skipped with a note rather than stopping the
service (the version restarted with is then stored again, on top).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime

from pushlift import schema
from pushlift.engine.config import EngineConfig, parse_config
from pushlift.errors import InputError
from pushlift.store import Store

Note = Callable[[str], None]

SECTIONS = ("vendors", "zones", "segments", "offers", "experiments")


def as_data(config: EngineConfig) -> dict[str, object]:
    """The config as plain JSON-ready data (what the API returns and stores)."""
    return config.model_dump(mode="json", exclude_none=True)


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr)


def live(store: Store, note: Note = _to_stderr) -> tuple[int, EngineConfig] | None:
    """The newest version that still validates and its config, or None when there is none
    (the service never had one, or none validates). Each newer version skipped because it
    no longer validates is reported through `note`."""
    rows = store.con.execute(
        "SELECT version, config_json FROM config_version ORDER BY version DESC"
    )
    while (row := rows.fetchone()) is not None:  # usually the first one: read no further
        version, text = int(row[0]), row[1]
        try:
            return version, parse_config(json.loads(text), f"config version {version}")
        except InputError as e:
            where = f"field {e.field}: " if e.field else ""
            why = f"it no longer validates ({where}{e.detail})"
            note(f"warning: skipping config version {version}: {why}")
        except (TypeError, ValueError) as e:  # not JSON at all
            note(f"warning: skipping config version {version}: it is not JSON ({e})")
    return None


def _newest_version(store: Store) -> int:
    row = store.con.execute("SELECT max(version) FROM config_version").fetchone()
    return 0 if row is None or row[0] is None else int(row[0])


def apply(store: Store, config: EngineConfig, change: str) -> int:
    """Store `config` as the next version unless it equals the live one and nothing newer
    is stored (a version that no longer validates); returns the live version number."""
    current = live(store, note=lambda _: None)  # `live` reported skipped versions already
    newest = _newest_version(store)
    if current is not None and current[0] == newest and as_data(current[1]) == as_data(config):
        return current[0]
    version = newest + 1
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
