"""Write what the engine saw and decided to the store: events, notifications, fill counts.

Each micro-batch is written in one transaction, so a crash leaves either all of a batch or
none of it. Events already in the store (by event id) are dropped before deciding, which
is what makes replaying a stream idempotent.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa

from pushlift import schema
from pushlift.engine.engine import OUTCOMES, BatchDecisions
from pushlift.engine.events import KIND_NAMES, PURCHASE, EventBatch
from pushlift.engine.plan import HOUR_US, Plan
from pushlift.store import Store

SMALL = 64  # up to this many rows, parameterized statements beat registering a table


def unseen(store: Store, batch: EventBatch) -> np.ndarray:
    """Mask of events to decide: not already stored, and first of their id in the batch."""
    _, first = np.unique(batch.event_id, return_index=True)
    fresh = np.zeros(len(batch), dtype=bool)
    fresh[first] = True
    ids = batch.event_id[first]
    if len(ids) <= SMALL:  # a request's few events: primary-key lookups
        marks = ", ".join("?" * len(ids))
        rows = store.con.execute(
            f"SELECT event_id FROM event WHERE event_id IN ({marks})", ids.tolist()
        ).fetchall()
        stored = np.array([r[0] for r in rows], dtype=np.int64)
    else:
        store.con.register("_pushlift_ids", pa.table({"event_id": ids}))
        try:
            stored = store.con.execute(
                "SELECT i.event_id FROM _pushlift_ids i JOIN event e USING (event_id)"
            ).fetchnumpy()["event_id"]
        finally:
            store.con.unregister("_pushlift_ids")
    if len(stored):
        fresh &= ~np.isin(batch.event_id, stored)
    return fresh


def _timestamps(us: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(us, dtype=np.int64), type=pa.timestamp("us", tz="UTC"))


def _reasons(plan: Plan, d: BatchDecisions, bids: np.ndarray) -> list[str]:
    how = "second price" if plan.second_price else "first price"
    out = []
    for bid, runner, n, price in zip(
        bids.tolist(),
        d.runner_up_bid_cents.tolist(),
        d.eligible.tolist(),
        d.price_cents.tolist(),
        strict=True,
    ):
        if n == 1:
            why = "only eligible offer"
        elif runner == bid:
            why = f"tied at {bid}¢ with {n - 1} other eligible offer(s); smaller offer id wins"
        else:
            why = f"highest of {n} eligible bids ({bid}¢; next {runner}¢)"
        out.append(f"{why}; {how}, pays {price}¢")
    return out


def event_columns(batch: EventBatch, ingest_us: np.ndarray) -> dict[str, object]:
    is_purchase = batch.kind == PURCHASE
    return {
        "event_id": batch.event_id,
        "kind": np.array(KIND_NAMES, dtype=object)[batch.kind],
        "consumer_id": batch.subscriber_id,
        "lat": pa.array(batch.lat, mask=np.isnan(batch.lat)),
        "lon": pa.array(batch.lon, mask=np.isnan(batch.lon)),
        "vendor_id": batch.vendor_id,
        "amount_cents": pa.array(batch.amount_cents, mask=~is_purchase),
        "domain": batch.domain,
        "event_time": _timestamps(batch.time_us),
        "ingest_time": _timestamps(ingest_us),
    }


def record_events(store: Store, batch: EventBatch, ingest_us: np.ndarray) -> None:
    """Append events the engine did not decide (so no notification and no count), e.g. a
    simulation's purchases that follow a decision, which attribution still needs."""
    store.append(schema.EVENT, event_columns(batch, ingest_us))


def notification_columns(
    plan: Plan, batch: EventBatch, decisions: BatchDecisions, ingest_us: np.ndarray
) -> dict[str, object]:
    """The `notification` rows of a decided batch, as columns."""
    pos, offer, labels = decisions.position, decisions.offer, plan.labels
    exp = plan.offer_experiment[offer]
    arm_names = [
        plan.experiments[e].arms[a].name if e >= 0 else None
        for e, a in zip(exp.tolist(), decisions.arm.tolist(), strict=True)
    ]
    bids = plan.bid[offer]
    runner = decisions.runner_up_bid_cents
    return notification_keys(batch, pos, ingest_us) | {
        "offer_id": labels.offer_id[offer],
        "vendor_id": labels.offer_vendor_id[offer],
        "zone_id": labels.offer_zone_id[offer],
        "experiment_id": labels.experiment_id[exp],
        "arm": np.array(arm_names, dtype=object),
        "delivered": decisions.delivered,
        "bid_cents": bids,
        "price_cents": decisions.price_cents,
        "runner_up_bid_cents": pa.array(runner, mask=runner < 0),
        "eligible_offers": decisions.eligible.astype(np.int32),
        "reason": np.array(_reasons(plan, decisions, bids), dtype=object),
        "content": labels.offer_content[offer],
    }


def notification_keys(
    batch: EventBatch, pos: np.ndarray, ingest_us: np.ndarray
) -> dict[str, object]:
    """The `notification` columns the triggering events (`batch[pos]`) give."""
    return {
        "notification_id": batch.event_id[pos],
        "event_id": batch.event_id[pos],
        "consumer_id": batch.subscriber_id[pos],
        "event_time": _timestamps(batch.time_us[pos]),
        "ingest_time": _timestamps(ingest_us[pos]),
    }


def record(
    store: Store, plan: Plan, batch: EventBatch, decisions: BatchDecisions, ingest_us: np.ndarray
) -> dict[str, object]:
    """Append a decided batch (all of it, or nothing; inside an open transaction, as part
    of it). Returns the notification columns written."""
    notes = notification_columns(plan, batch, decisions, ingest_us)
    record_decided(store, batch, decisions.outcome, notes, ingest_us)
    return notes


def record_decided(
    store: Store,
    batch: EventBatch,
    outcome: np.ndarray,
    notes: dict[str, object],
    ingest_us: np.ndarray,
) -> None:
    """Append decided events (`outcome` a code per event) and the notification columns
    already built for them (no rows when they made none)."""
    if not len(batch):
        return
    hour, code, n = outcome_counts(batch.time_us, outcome)
    write_decided(
        store,
        event_columns(batch, ingest_us),
        notes if len(notes["notification_id"]) else None,  # type: ignore[arg-type]
        (hour, np.array(OUTCOMES, dtype=object)[code], n),
    )


def outcome_counts(
    time_us: np.ndarray, outcome: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Events per (UTC hour in µs, outcome code): the `decision_count` increments."""
    hour = np.asarray(time_us, dtype=np.int64) // HOUR_US
    keys, counts = np.unique(
        np.stack([hour, np.asarray(outcome, dtype=np.int64)]), axis=1, return_counts=True
    )
    return keys[0] * HOUR_US, keys[1], counts


def write_decided(
    store: Store,
    events: dict[str, object],
    notes: dict[str, object] | None,
    counts: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    """Events, their notifications and the hourly counts, in one transaction."""
    with store.transaction():
        store.append(schema.EVENT, events)
        if notes is not None:
            store.append(schema.NOTIFICATION, notes)
        _add_counts(store, *counts)


_UPSERT_COUNTS = (
    "INSERT INTO decision_count {rows} "
    "ON CONFLICT (hour, outcome) DO UPDATE SET events = events + excluded.events"
)


def _add_counts(store: Store, hour_us: np.ndarray, outcome: np.ndarray, n: np.ndarray) -> None:
    if len(n) <= SMALL:
        values = ", ".join(["(to_timestamp(? / 1e6), ?, ?)"] * len(n))
        rows = zip(hour_us.tolist(), outcome.tolist(), n.tolist(), strict=True)
        params = [x for row in rows for x in row]
        store.con.execute(_UPSERT_COUNTS.format(rows=f"VALUES {values}"), params)
        return
    table = pa.table({"hour": _timestamps(hour_us), "outcome": outcome, "events": n})
    store.con.register("_pushlift_counts", table)
    try:
        store.con.execute(
            _UPSERT_COUNTS.format(rows="SELECT hour, outcome, events FROM _pushlift_counts")
        )
    finally:
        store.con.unregister("_pushlift_counts")


def save_config(store: Store, plan: Plan) -> None:
    """Store the vendors, zones and offers the engine decides with (replacing same ids)."""
    config = plan.config
    exp_ids = [e.id for e in plan.experiments]
    rows = {
        schema.VENDOR: {
            "vendor_id": [v.id for v in config.vendors],
            "name": [v.name for v in config.vendors],
            "category": [v.category for v in config.vendors],
            "domain": [v.domain for v in config.vendors],
            "lat": [v.lat for v in config.vendors],
            "lon": [v.lon for v in config.vendors],
        },
        schema.ZONE: {
            "zone_id": [z.id for z in config.zones],
            "shape": ["circle" if z.circle else "polygon" for z in config.zones],
            "geometry": [
                json.dumps(z.circle.model_dump() if z.circle else z.polygon) for z in config.zones
            ],
        },
        schema.OFFER: {
            "offer_id": plan.offer_ids,
            "vendor_id": [o.vendor for o in plan.offers],
            "content": [o.content for o in plan.offers],
            "zone_id": [o.zone for o in plan.offers],
            "segments": [list(o.segments) for o in plan.offers],
            "max_bid_cents": [o.max_bid_cents for o in plan.offers],
            "budget_cents": [o.budget_cents for o in plan.offers],
            "daily_budget_cents": [o.daily_budget_cents for o in plan.offers],
            "experiment_id": [exp_ids[e] if e >= 0 else None for e in plan.offer_experiment],
            "enabled": [o.enabled for o in plan.offers],
        },
    }
    with store.transaction():
        for table, columns in rows.items():
            key = table.primary_key[0]
            ids = pa.table({key: pa.array(columns[key], type=pa.string())})
            store.con.register("_pushlift_ids", ids)
            try:
                store.con.execute(
                    f"DELETE FROM {table.name} WHERE {key} IN (SELECT {key} FROM _pushlift_ids)"
                )
            finally:
                store.con.unregister("_pushlift_ids")
            store.append(table, columns)
