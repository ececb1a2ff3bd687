"""Run the engine over a stream and keep the store in step: the `pushlift run` loop.

On start the engine's state is rebuilt from the store (segment state by replaying stored
events, caps and budgets from stored notifications), so a run continues where the last
one stopped. Events already stored are skipped, so replaying a stream changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

import numpy as np

from pushlift.engine.engine import LATE, OUTCOMES, BatchDecisions, Engine
from pushlift.engine.events import KIND_CODES, EventBatch
from pushlift.engine.plan import Plan
from pushlift.engine.recorder import (
    notification_columns,
    record_decided,
    save_config,
    unseen,
)
from pushlift.engine.state import Traits
from pushlift.store import Store

MICRO_BATCH = 50_000
DEFAULT_MAX_SKEW_US = 300 * 1_000_000  # 5 minutes: events further ahead are refused


@dataclass
class RunSummary:
    events_read: int = 0
    already_stored: int = 0
    late: int = 0
    future: int = 0  # dated too far ahead of the ingest clock: neither stored nor decided
    outcomes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES[:LATE], 0))
    seconds: float = 0.0

    @property
    def decided(self) -> int:
        return sum(self.outcomes.values())

    @property
    def opportunities(self) -> int:
        """Events with at least one candidate offer."""
        return self.decided - self.outcomes["no_match"]

    @property
    def fill_rate(self) -> float:
        notified = self.outcomes["delivered"] + self.outcomes["held_out"]
        return notified / self.opportunities if self.opportunities else float("nan")


def load_traits(store: Store) -> Traits:
    cols = store.con.execute(
        "SELECT consumer_id, age, gender, loyalty_status FROM consumer"
    ).fetchnumpy()
    return Traits(cols["consumer_id"], cols["age"], cols["gender"], cols["loyalty_status"])


def _stored_events(store: Store) -> EventBatch:
    cols = store.con.execute(
        "SELECT event_id, kind, consumer_id, epoch_us(event_time) AS t, "
        "COALESCE(lat, 'NaN'::DOUBLE) AS lat, COALESCE(lon, 'NaN'::DOUBLE) AS lon, vendor_id, "
        "COALESCE(amount_cents, 0) AS amount_cents, domain "
        "FROM event ORDER BY event_time, ingest_time, event_id"
    ).fetchnumpy()
    return EventBatch(
        cols["event_id"].astype(np.int64),
        np.array([KIND_CODES[k] for k in cols["kind"]], dtype=np.int8),
        cols["consumer_id"].astype(np.int64),
        cols["t"].astype(np.int64),
        cols["lat"].astype(float),
        cols["lon"].astype(float),
        np.array(cols["vendor_id"], dtype=object),
        cols["amount_cents"].astype(np.int64),
        np.array(cols["domain"], dtype=object),
    )


def rebuild(store: Store, plan: Plan) -> tuple[Engine, int | None]:
    """An engine whose state reflects everything already in the store, and the latest
    event time already decided (None for an empty store)."""
    engine = Engine(plan)
    engine.state.set_traits(load_traits(store))
    events = _stored_events(store)
    for lo in range(0, len(events), MICRO_BATCH):
        engine.decide_batch(events.take(slice(lo, lo + MICRO_BATCH)), settle=False)
    notes = store.con.execute(
        "SELECT consumer_id, offer_id, epoch_us(event_time), price_cents, delivered "
        "FROM notification ORDER BY event_time, notification_id"
    ).fetchall()
    for consumer, offer, t, price, delivered in notes:
        engine.restore_notification(consumer, offer, t, price, delivered)
    return engine, (int(events.time_us.max()) if len(events) else None)


@dataclass(frozen=True)
class Processed:
    """What one micro-batch did. `fresh` marks the input events that were new (stored now);
    `outcome` is per new event (late ones included), and the decisions' positions index the
    new events (`kept`). `clock` is the engine's clock once the batch is committed."""

    kept: EventBatch
    fresh: np.ndarray
    late: np.ndarray
    decisions: BatchDecisions
    notifications: dict[str, object]  # the columns written to `notification`
    ingest_us: np.ndarray  # per kept event
    clock: int | None


def future_mask(batch: EventBatch, now_us: int, max_skew_us: int) -> np.ndarray:
    """Events dated further ahead of the ingest clock (`now_us`) than `max_skew_us`: never
    decided, so that no event can move the engine's clock into the future."""
    return batch.time_us > now_us + max_skew_us


class Processor:
    """The engine with its store: decides new events in order. `pushlift run` records each
    micro-batch in one store transaction (`process`); `pushlift serve` decides a group
    tentatively (`decide`), makes it durable in its journal, then `commit`s it."""

    def __init__(self, store: Store, plan: Plan, allowed_lateness_us: int = 0) -> None:
        self.store, self.plan = store, plan
        # Events at most this far behind the latest decided one are decided anyway, as of
        # that latest time (arrival order); older ones are stored as late, not decided.
        self.allowed_lateness_us = allowed_lateness_us
        save_config(store, plan)
        self.engine, self.clock = rebuild(store, plan)

    def decide(self, batch: EventBatch, fresh: np.ndarray, now_us: int) -> Processed:
        """Decide the `fresh` events of `batch` (in time order). The engine's segment, cap
        and budget state advance; its clock does not until `commit`. If the batch is then
        not made durable, the engine must be rebuilt (`rebuild`)."""
        clock = self.clock
        # An event older than what was already decided cannot be decided in order.
        late = (
            fresh & (batch.time_us < clock - self.allowed_lateness_us)
            if clock is not None
            else np.zeros_like(fresh)
        )
        kept, is_late = batch.take(fresh), late[fresh]
        on_time = np.flatnonzero(~is_late)
        todo = kept.take(on_time)
        if clock is not None and self.allowed_lateness_us:
            # The batch is in time order, so raising its early events to the clock keeps it
            # so; the stored events and notifications keep their own event times.
            todo = replace(todo, time_us=np.maximum(todo.time_us, clock))
        decisions = self.engine.decide_batch(todo)
        outcome = np.full(len(kept), LATE, dtype=np.int8)
        outcome[on_time] = decisions.outcome
        all_kept = replace(decisions, outcome=outcome, position=on_time[decisions.position])
        now = np.full(len(kept), now_us, dtype=np.int64)
        notes = notification_columns(self.plan, kept, all_kept, now)
        if len(todo):
            clock = max(clock or 0, int(todo.time_us.max()))
        return Processed(kept, fresh, is_late, all_kept, notes, now, clock)

    def commit(self, done: Processed) -> None:
        """The decided batch is durable: the engine's clock moves to it."""
        self.clock = done.clock

    def process(self, batch: EventBatch) -> Processed:
        """Decide the new events of `batch` and record them in one store transaction."""
        done = self.decide(batch, unseen(self.store, batch), time.time_ns() // 1000)
        record_decided(
            self.store, done.kept, done.decisions.outcome, done.notifications, done.ingest_us
        )
        self.commit(done)
        return done


def run(
    store: Store,
    plan: Plan,
    batches: Iterable[EventBatch],
    progress: Callable[[RunSummary], None] | None = None,
    max_skew_us: int = DEFAULT_MAX_SKEW_US,
) -> RunSummary:
    """Decide every new event of the stream and store events, notifications and counts.
    Events dated more than `max_skew_us` ahead of the wall clock are counted as `future`
    and left out: one mistyped year must not stop every later event."""
    started = time.perf_counter()
    processor = Processor(store, plan)
    summary = RunSummary()
    for whole in batches:
        for lo in range(0, len(whole), MICRO_BATCH):
            batch = whole.take(slice(lo, lo + MICRO_BATCH))
            summary.events_read += len(batch)
            ahead = future_mask(batch, time.time_ns() // 1000, max_skew_us)
            if ahead.any():
                summary.future += int(ahead.sum())
                batch = batch.take(~ahead)
            done = processor.process(batch)
            summary.already_stored += int((~done.fresh).sum())
            summary.late += int(done.late.sum())
            counts = np.bincount(done.decisions.outcome, minlength=LATE + 1)
            for name, n in zip(OUTCOMES[:LATE], counts.tolist(), strict=False):
                summary.outcomes[name] += n
            summary.seconds = time.perf_counter() - started
            if progress is not None:
                progress(summary)
    summary.seconds = time.perf_counter() - started
    return summary
