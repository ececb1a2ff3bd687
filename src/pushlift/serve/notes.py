"""A stored notification as the API shows it: one column list for every endpoint."""

from __future__ import annotations

from typing import Any

from pushlift.engine.events import from_us
from pushlift.engine.runner import Processed

ISO = "%Y-%m-%dT%H:%M:%S.%fZ"

# `cursor` orders notifications by ingest time, then id (see outbox.py).
SELECT = """
SELECT notification_id, consumer_id, offer_id, vendor_id, zone_id, experiment_id, arm,
       delivered, price_cents, reason, content,
       strftime(event_time, '%Y-%m-%dT%H:%M:%S.%fZ'),
       epoch_us(ingest_time) || ':' || notification_id
FROM notification
"""
FIELDS = (
    "notification_id",
    "subscriber_id",
    "offer_id",
    "vendor_id",
    "zone_id",
    "experiment_id",
    "arm",
    "delivered",
    "price_cents",
    "reason",
    "content",
    "event_time",
    "cursor",
)


def as_dict(row: tuple[Any, ...]) -> dict[str, Any]:
    return dict(zip(FIELDS, row, strict=True))


def from_decisions(done: Processed) -> dict[int, dict[str, Any]]:
    """The notifications a micro-batch just wrote, by id, without reading them back."""
    # Object columns (ids, texts) hold plain Python values already.
    cols: dict[str, Any] = done.notifications
    kept = done.kept
    position = done.decisions.position
    out = {}
    for j, i in enumerate(position.tolist()):
        note_id = int(kept.event_id[i])
        out[note_id] = {
            "notification_id": note_id,
            "subscriber_id": int(kept.subscriber_id[i]),
            "offer_id": cols["offer_id"][j],
            "vendor_id": cols["vendor_id"][j],
            "zone_id": cols["zone_id"][j],
            "experiment_id": cols["experiment_id"][j],
            "arm": cols["arm"][j],
            "delivered": bool(done.decisions.delivered[j]),
            "price_cents": int(done.decisions.price_cents[j]),
            "reason": cols["reason"][j],
            "content": cols["content"][j],
            "event_time": from_us(int(kept.time_us[i])).strftime(ISO),
            "cursor": f"{int(done.ingest_us[i])}:{note_id}",
        }
    return out


def from_journal(row: dict[str, Any]) -> dict[str, Any]:
    """A notification from its journaled `notification` row (`journal.Group`)."""
    note_id = int(row["notification_id"])
    return {
        "notification_id": note_id,
        "subscriber_id": int(row["consumer_id"]),
        **{name: row[name] for name in ("offer_id", "vendor_id", "zone_id", "experiment_id")},
        "arm": row["arm"],
        "delivered": bool(row["delivered"]),
        "price_cents": int(row["price_cents"]),
        "reason": row["reason"],
        "content": row["content"],
        "event_time": from_us(int(row["event_time"])).strftime(ISO),
        "cursor": f"{int(row['ingest_time'])}:{note_id}",
    }
