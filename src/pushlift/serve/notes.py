"""A stored notification as the API shows it: one column list for every endpoint."""

from __future__ import annotations

from typing import Any

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
