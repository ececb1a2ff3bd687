"""The decision engine: for each event, who (if anyone) gets which offer, at what price.

Every event goes through the same stages, and the first stage that leaves no candidate
names the outcome:

1. update the subscriber's segment state with the event (the event itself counts);
2. candidates: offers whose zone contains a location ping, or trip-trigger offers on a
   subscriber's first purchase of the day;           no candidate -> NO_MATCH
3. the offer is enabled, bids at least the reserve, and the event is in its validity
   window;                                            -> INACTIVE
4. not in quiet hours;                                -> QUIET_HOURS
5. every required segment holds;                      -> SEGMENT
6. the subscriber is under the global frequency cap;  -> FREQUENCY_CAP
7. under the offer's per-subscriber cap;              -> SUBSCRIBER_CAP
8. the bid fits in the offer's total and daily budget left;  -> BUDGET
9. auction among what is left: highest bid wins, ties to the smaller offer id; first
   price pays the bid, second price pays max(reserve, next eligible bid);
10. the subscriber's arm in the offer's experiment: a holdout arm gets nothing, but the
    would-have-sent notification is recorded (HELD_OUT) so lift can be measured;
    otherwise DELIVERED and the price is charged. Caps count both, so the holdout's
    would-have-sent stream mirrors what the treated receive.

All ten stages run in one compiled function per event (`kernel.py`), which both entry
points call: `decide` for one event, `decide_batch` for a micro-batch (numpy prepares the
batch's columns, then one compiled loop decides its events in order). One decision path, so
both decide identically; tests also check both against a brute-force referee.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pushlift.engine import kernel
from pushlift.engine.events import LOCATION, PURCHASE, SITE_VISIT, Event, EventBatch
from pushlift.engine.outcomes import (
    BUDGET,
    DELIVERED,
    FREQUENCY_CAP,
    HELD_OUT,
    INACTIVE,
    LATE,
    NO_MATCH,
    OUTCOMES,
    QUIET_HOURS,
    SEGMENT,
    SUBSCRIBER_CAP,
)
from pushlift.engine.plan import DAY_US, NEVER, Plan
from pushlift.engine.state import EngineState


@dataclass(frozen=True)
class Decision:
    """The engine's answer for one event. `offer` is an index into `Plan.offer_ids`."""

    outcome: int
    offer: int = -1
    price_cents: int = 0
    runner_up_bid_cents: int = -1  # -1: no other eligible bid
    eligible: int = 0  # offers left for the auction
    arm: int = -1  # arm index in the offer's experiment; -1 if none

    @property
    def notified(self) -> bool:
        return self.outcome in (DELIVERED, HELD_OUT)


@dataclass(frozen=True)
class BatchDecisions:
    """Decisions for a micro-batch: one outcome per event, one row per notification."""

    outcome: np.ndarray  # int8 per event
    position: np.ndarray  # event positions that produced a notification
    offer: np.ndarray
    price_cents: np.ndarray
    runner_up_bid_cents: np.ndarray
    eligible: np.ndarray
    arm: np.ndarray
    delivered: np.ndarray

    def decision(self, i: int) -> Decision:
        """The decision for event `i`, in the same form `Engine.decide` returns."""
        hit = np.flatnonzero(self.position == i)
        if not len(hit):
            return Decision(int(self.outcome[i]))
        j = int(hit[0])
        return Decision(
            int(self.outcome[i]),
            int(self.offer[j]),
            int(self.price_cents[j]),
            int(self.runner_up_bid_cents[j]),
            int(self.eligible[j]),
            int(self.arm[j]),
        )


class Engine:
    """Holds the plan and the state; decides one event or a micro-batch at a time."""

    def __init__(self, plan: Plan, state: EngineState | None = None) -> None:
        self.plan = plan
        self.state = state or EngineState(plan)
        self._kernel_plan = kernel.kernel_plan(plan)
        self._one = np.empty((1, 6), dtype=np.int64)  # `decide`'s batch of one
        self._one_xy = np.empty((1, 2), dtype=np.float64)

    def decide(self, event: Event) -> Decision:
        """Decide one event (and update the state with it): a batch of one."""
        plan, state = self.plan, self.state
        local = plan.clock.local_us(event.time_us)
        one = self._one
        one[0, kernel.KIND] = event.kind
        one[0, kernel.SUB] = state.subscriber(event.subscriber_id)
        one[0, kernel.TIME] = event.time_us
        one[0, kernel.DAY] = local // DAY_US
        one[0, kernel.QUIET] = plan.quiet_at(local)
        one[0, kernel.SLOT] = -1
        self._one_xy[0] = np.nan
        if event.kind == LOCATION:
            self._one_xy[0] = plan.zones.projection.point(event.lat, event.lon)
        elif event.kind == PURCHASE:
            vendor = plan.vendor_index.get(event.vendor_id or "", -1)
            one[0, kernel.SLOT] = plan.vendor_slot_of_vendor.get(vendor, -1)
        elif event.kind == SITE_VISIT:
            vendor = _site_vendor(plan, event.domain, event.vendor_id)
            one[0, kernel.SLOT] = plan.site_slot_of_vendor.get(vendor, -1)
        outcome, detail = self._run(one, self._one_xy, True)
        if outcome[0] not in (DELIVERED, HELD_OUT):
            return Decision(int(outcome[0]))
        return Decision(int(outcome[0]), *detail[0].tolist())

    def decide_batch(self, batch: EventBatch, settle: bool = True) -> BatchDecisions:
        """Decide a batch of events in event-time order; same answers as `decide` each.

        With `settle=False` only segment state advances (used to rebuild state from the
        store); caps and budgets are then restored from stored notifications."""
        plan = self.plan
        n = len(batch)
        events = np.empty((n, 6), dtype=np.int64)  # columns kernel.KIND .. kernel.SLOT
        events[:, kernel.KIND] = batch.kind
        events[:, kernel.SUB] = self.state.subscribers(batch.subscriber_id)
        events[:, kernel.TIME] = batch.time_us
        local = plan.clock.local_us_many(events[:, kernel.TIME])
        events[:, kernel.DAY] = local // DAY_US
        events[:, kernel.QUIET] = plan.quiet_many(local)
        events[:, kernel.SLOT] = -1
        purchase = np.flatnonzero(batch.kind == PURCHASE)
        events[purchase, kernel.SLOT] = _slots(
            batch.vendor_id[purchase], plan.vendor_index, plan.vendor_slot_of_vendor
        )
        visit = np.flatnonzero(batch.kind == SITE_VISIT)
        events[visit, kernel.SLOT] = [
            plan.site_slot_of_vendor.get(_site_vendor(plan, d, v), -1)
            for d, v in zip(
                batch.domain[visit].tolist(), batch.vendor_id[visit].tolist(), strict=True
            )
        ]
        xy = np.empty((n, 2), dtype=np.float64)
        xy[:, 0], xy[:, 1] = plan.zones.projection.points(batch.lat, batch.lon)
        outcome, detail = self._run(events, xy, settle)
        position = np.flatnonzero((outcome == DELIVERED) | (outcome == HELD_OUT))
        columns = detail[position].T.copy()  # one contiguous array per field
        return BatchDecisions(
            outcome=outcome,
            position=position,
            offer=columns[kernel.OFFER],
            price_cents=columns[kernel.PRICE],
            runner_up_bid_cents=columns[kernel.RUNNER_UP],
            eligible=columns[kernel.ELIGIBLE],
            arm=columns[kernel.ARM],
            delivered=outcome[position] == DELIVERED,
        )

    def _run(
        self, events: np.ndarray, xy: np.ndarray, settle: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """The compiled stages over prepared events: outcome per event and, for each
        notification, its detail row (offer, price, runner-up bid, eligible, arm)."""
        state = self.state
        if settle and self.plan.cap.any():  # at most one notification per event
            state.offer_count.reserve(len(events))
        outcome = np.empty(len(events), dtype=np.int8)
        detail = np.empty((len(events), 5), dtype=np.int64)
        kernel.decide_events(
            *self._kernel_plan,
            *kernel.state_arrays(state),
            events,
            xy,
            settle,
            outcome,
            detail,
        )
        return outcome, detail

    def restore_notification(
        self, subscriber_id: int, offer_id: str, time_us: int, price_cents: int, delivered: bool
    ) -> None:
        """Count a stored notification against caps and budgets (rebuilding state)."""
        plan, state = self.plan, self.state
        s = state.subscriber(subscriber_id)
        if plan.frequency_max:
            recent = state.recent[s]
            recent[int(np.argmin(recent))] = time_us  # restored in time order
        offer = plan.offer_rank.get(offer_id)
        if offer is None:  # an offer no longer configured: nothing to cap or charge
            return
        if plan.cap[offer]:
            state.offer_count.add(offer, s)
        if delivered:
            day = plan.clock.local_us(time_us) // DAY_US
            spend = state.spend
            if spend.day[offer] != day:
                spend.day[offer], spend.today[offer] = day, 0
            spend.total[offer] += price_cents
            spend.today[offer] += price_cents


def _site_vendor(plan: Plan, domain: str | None, vendor_id: str | None) -> int:
    """The vendor whose site was visited: by domain, else by the vendor id given."""
    if domain:
        found = plan.domain_vendor.get(domain.lower())
        if found is not None:
            return found
    return plan.vendor_index.get(vendor_id or "", -1)


def _slots(vendor_ids: np.ndarray, index: dict[str, int], slot_of: dict[int, int]) -> np.ndarray:
    """State slot per purchase (-1 when no segment watches that vendor)."""
    return np.array(
        [slot_of.get(index.get(v or "", -1), -1) for v in vendor_ids.tolist()], dtype=np.int64
    )


__all__ = [
    "Engine",
    "Decision",
    "BatchDecisions",
    "OUTCOMES",
    "NEVER",
    # outcome codes
    "NO_MATCH",
    "INACTIVE",
    "QUIET_HOURS",
    "SEGMENT",
    "FREQUENCY_CAP",
    "SUBSCRIBER_CAP",
    "BUDGET",
    "DELIVERED",
    "HELD_OUT",
    "LATE",
]
