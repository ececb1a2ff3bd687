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

Stages 1-5 depend only on the event and segment state, so `decide_batch` computes them
for a whole micro-batch with numpy; stages 6-10 change shared state (caps, budgets) and
run event by event in `_settle`, which both entry points share. `decide` (one event) is
the plain-Python reading of stages 1-5. Tests check both paths decide identically.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pushlift.engine.events import LOCATION, PURCHASE, SITE_VISIT, Event, EventBatch
from pushlift.engine.plan import (
    DAY_US,
    FIRST_PURCHASE_OF_TRIP,
    IN_ZONE,
    NEVER,
    PURCHASED_AT,
    TRAITS,
    VISITED_SITE,
    Plan,
)
from pushlift.engine.state import EngineState

(
    NO_MATCH,
    INACTIVE,
    QUIET_HOURS,
    SEGMENT,
    FREQUENCY_CAP,
    SUBSCRIBER_CAP,
    BUDGET,
    DELIVERED,
    HELD_OUT,
    LATE,  # set by the runner: older than events already decided, so stored but not decided
) = range(10)
OUTCOMES = (
    "no_match",
    "inactive",
    "quiet_hours",
    "segment",
    "frequency_cap",
    "subscriber_cap",
    "budget",
    "delivered",
    "held_out",
    "late",
)


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

    # -- one event ----------------------------------------------------------------------
    def decide(self, event: Event) -> Decision:
        plan, state = self.plan, self.state
        s = state.subscriber(event.subscriber_id)
        t = event.time_us
        local = plan.clock.local_us(t)
        day = local // DAY_US
        first_of_trip = False
        candidates: list[int] = []
        if event.kind == LOCATION:
            for zone in plan.zones.zones_at(event.lat, event.lon):
                slot = plan.zone_slot_of_zone[zone]
                if slot >= 0:
                    state.zone_seen[slot, s] = max(state.zone_seen[slot, s], t)
                candidates.extend(plan.zone_offer_list[zone])
            candidates.sort()
        elif event.kind == PURCHASE:
            vendor = plan.vendor_index.get(event.vendor_id or "", -1)
            slot = plan.vendor_slot_of_vendor.get(vendor)
            if slot is not None:
                state.bought[slot, s] = max(state.bought[slot, s], t)
            first_of_trip = state.last_purchase_day[s] != day
            state.last_purchase_day[s] = day
            if first_of_trip:
                candidates = plan.trip_offers.tolist()
        elif event.kind == SITE_VISIT:
            slot = plan.site_slot_of_vendor.get(_site_vendor(plan, event.domain, event.vendor_id))
            if slot is not None:
                state.visited[slot, s] = max(state.visited[slot, s], t)
        if not candidates:
            return Decision(NO_MATCH)
        candidates = [
            o
            for o in candidates
            if plan.active[o] and plan.valid_from[o] <= t < plan.valid_until[o]
        ]
        if not candidates:
            return Decision(INACTIVE)
        if plan.quiet_at(local):
            return Decision(QUIET_HOURS)
        candidates = [
            o
            for o in candidates
            if all(self._holds(g, s, t, first_of_trip) for g in plan.required[o])
        ]
        if not candidates:
            return Decision(SEGMENT)
        return self._settle(s, t, day, candidates)

    def _holds(self, segment: int, s: int, t: int, first_of_trip: bool) -> bool:
        seg = self.plan.segments[segment]
        state = self.state
        if seg.kind == IN_ZONE:
            return bool(state.zone_seen[seg.slot, s] >= t - seg.within_us)
        if seg.kind == PURCHASED_AT:
            return bool(state.bought[seg.slot, s] >= t - seg.within_us)
        if seg.kind == VISITED_SITE:
            return bool(state.visited[seg.slot, s] >= t - seg.within_us)
        if seg.kind == TRAITS:
            return bool(state.traits[seg.slot, s])
        assert seg.kind == FIRST_PURCHASE_OF_TRIP
        return first_of_trip

    # -- stages 6-10: shared by both paths ----------------------------------------------
    def _settle(self, s: int, t: int, day: int, candidates: Sequence[int]) -> Decision:
        plan, state = self.plan, self.state
        if plan.frequency_max:
            recent = state.recent[s]
            if int((recent > t - plan.frequency_per_us).sum()) >= plan.frequency_max:
                return Decision(FREQUENCY_CAP)
        spend = state.spend
        eligible: list[int] = []
        capped = 0
        for o in candidates:
            if plan.cap[o] and state.offer_count.get((o, s), 0) >= plan.cap[o]:
                capped += 1
                continue
            today = spend.today[o] if spend.day[o] == day else 0
            bid = plan.bid[o]
            if spend.total[o] + bid > plan.budget[o] or today + bid > plan.daily_budget[o]:
                continue
            eligible.append(o)
        if not eligible:
            return Decision(SUBSCRIBER_CAP if capped == len(candidates) else BUDGET)
        # Candidates arrive in rank order (bid desc, offer id), so the first one wins.
        winner = eligible[0]
        runner_up = int(plan.bid[eligible[1]]) if len(eligible) > 1 else -1
        price = max(plan.reserve, runner_up) if plan.second_price else int(plan.bid[winner])
        exp = plan.offer_experiment[winner]
        arm = int(state.arm[exp, s]) if exp >= 0 else -1
        held_out = exp >= 0 and bool(plan.arm_holdout[exp][arm])
        # Caps count held-out notifications too; only delivered ones are charged.
        if plan.frequency_max:
            recent = state.recent[s]
            recent[int(np.argmin(recent))] = t
        if plan.cap[winner]:
            state.offer_count[(winner, s)] = state.offer_count.get((winner, s), 0) + 1
        if not held_out:
            if spend.day[winner] != day:
                spend.day[winner], spend.today[winner] = day, 0
            spend.total[winner] += price
            spend.today[winner] += price
        return Decision(
            HELD_OUT if held_out else DELIVERED, winner, price, runner_up, len(eligible), arm
        )

    # -- a micro-batch ------------------------------------------------------------------
    def decide_batch(self, batch: EventBatch, settle: bool = True) -> BatchDecisions:
        """Decide a batch of events in event-time order; same answers as `decide` each.

        With `settle=False` only segment state advances (used to rebuild state from the
        store); caps and budgets are then restored from stored notifications."""
        plan, state = self.plan, self.state
        n = len(batch)
        subs = state.subscribers(batch.subscriber_id)
        t = batch.time_us
        local = plan.clock.local_us_many(t)
        day = local // DAY_US
        kind = batch.kind

        # Stage 1: segment-state updates, kept as (slot, position) lists for as-of lookups.
        loc = np.flatnonzero(kind == LOCATION)
        zone_ev, zone = plan.zones.zone_pairs(batch.lat[loc], batch.lon[loc])
        zone_ev = loc[zone_ev]
        zone_slot = plan.zone_slot_of_zone[zone] if len(zone) else np.empty(0, np.int64)
        purchase = np.flatnonzero(kind == PURCHASE)
        bought_slot = _slots(
            batch.vendor_id[purchase], plan.vendor_index, plan.vendor_slot_of_vendor
        )
        visit = np.flatnonzero(kind == SITE_VISIT)
        visit_vendor = [
            _site_vendor(plan, d, v)
            for d, v in zip(
                batch.domain[visit].tolist(), batch.vendor_id[visit].tolist(), strict=True
            )
        ]
        visit_slot = np.array(
            [plan.site_slot_of_vendor.get(v, -1) for v in visit_vendor], dtype=np.int64
        )
        updates = {
            IN_ZONE: (state.zone_seen, zone_slot, zone_ev),
            PURCHASED_AT: (state.bought, bought_slot, purchase),
            VISITED_SITE: (state.visited, visit_slot, visit),
        }
        # First purchase of the local day: no earlier purchase by them that day.
        prev_day = _asof(
            state.last_purchase_day,
            subs[purchase],
            purchase,
            day[purchase],
            subs[purchase],
            purchase,
            inclusive=False,
        )
        first_of_trip = np.zeros(n, dtype=bool)
        first_of_trip[purchase] = prev_day != day[purchase]

        # Stage 2: candidate (event, offer) pairs.
        per_zone = plan.zone_offer_count[zone] if len(zone) else np.empty(0, np.int64)
        pair_ev = np.repeat(zone_ev, per_zone)
        pair_offer = (
            plan.zone_offers[_expand(plan.zone_offer_start[zone], per_zone)]
            if len(zone)
            else np.empty(0, np.int64)
        )
        trip_ev = purchase[first_of_trip[purchase]]
        if len(plan.trip_offers) and len(trip_ev):
            pair_ev = np.concatenate([pair_ev, np.repeat(trip_ev, len(plan.trip_offers))])
            pair_offer = np.concatenate([pair_offer, np.tile(plan.trip_offers, len(trip_ev))])
        order = np.lexsort((pair_offer, pair_ev))
        pair_ev, pair_offer = pair_ev[order], pair_offer[order]
        outcome = np.full(n, NO_MATCH, dtype=np.int8)
        alive = np.ones(len(pair_ev), dtype=bool)

        def eliminate(keep: np.ndarray, code: int) -> None:
            nonlocal alive
            before = np.bincount(pair_ev[alive], minlength=n) > 0
            alive = alive & keep
            after = np.bincount(pair_ev[alive], minlength=n) > 0
            outcome[before & ~after] = code

        # Stage 3-5: activity and validity, quiet hours, segments.
        te = t[pair_ev]
        eliminate(
            plan.active[pair_offer]
            & (plan.valid_from[pair_offer] <= te)
            & (te < plan.valid_until[pair_offer]),
            INACTIVE,
        )
        eliminate(~plan.quiet_many(local)[pair_ev], QUIET_HOURS)
        holds = np.ones(len(pair_ev), dtype=bool)
        for g, seg in enumerate(plan.segments):
            need = np.flatnonzero(alive & plan.requires[g][pair_offer])
            if not len(need):
                continue
            ev = pair_ev[need]
            if seg.kind == TRAITS:
                holds[need] &= state.traits[seg.slot, subs[ev]]
            elif seg.kind == FIRST_PURCHASE_OF_TRIP:
                holds[need] &= first_of_trip[ev]
            else:
                table, slots, upd_ev = updates[seg.kind]
                mine = upd_ev[slots == seg.slot]
                last = _asof(table[seg.slot], subs[mine], mine, t[mine], subs[ev], ev, True)
                holds[need] &= last >= t[ev] - seg.within_us
        eliminate(holds, SEGMENT)

        # Segment state now advances to the end of the batch (the settle stage never reads it).
        for table, slots, upd_ev in updates.values():
            for slot in np.unique(slots[slots >= 0]):
                mine = upd_ev[slots == slot]
                np.maximum.at(table[slot], subs[mine], t[mine])
        if len(purchase):
            np.maximum.at(state.last_purchase_day, subs[purchase], day[purchase])

        # Stages 6-10, event by event in order.
        if not settle:
            alive[:] = False
        ev_alive, off_alive = pair_ev[alive], pair_offer[alive]
        events, starts = np.unique(ev_alive, return_index=True)
        if plan.frequency_max and len(events):
            # Already capped before this batch means capped now: caps only fill up. Deciding
            # these here keeps them out of the event-by-event loop (same outcome, faster).
            recent = state.recent[subs[events]]
            capped = (recent > (t[events] - plan.frequency_per_us)[:, None]).sum(axis=1)
            capped = capped >= plan.frequency_max
            outcome[events[capped]] = FREQUENCY_CAP
            bounds_all = np.append(starts, len(ev_alive))
            keep = ~capped
            take = _expand(bounds_all[:-1][keep], np.diff(bounds_all)[keep])
            ev_alive, off_alive = ev_alive[take], off_alive[take]
            events, starts = np.unique(ev_alive, return_index=True)
        bounds = np.append(starts, len(ev_alive)).tolist()
        offers = off_alive.tolist()
        rows: list[tuple[int, Decision]] = []
        for k, e in enumerate(events.tolist()):
            d = self._settle(
                int(subs[e]), int(t[e]), int(day[e]), offers[bounds[k] : bounds[k + 1]]
            )
            outcome[e] = d.outcome
            if d.notified:
                rows.append((e, d))
        return BatchDecisions(
            outcome=outcome,
            position=np.array([e for e, _ in rows], dtype=np.int64),
            offer=np.array([d.offer for _, d in rows], dtype=np.int64),
            price_cents=np.array([d.price_cents for _, d in rows], dtype=np.int64),
            runner_up_bid_cents=np.array([d.runner_up_bid_cents for _, d in rows], np.int64),
            eligible=np.array([d.eligible for _, d in rows], dtype=np.int64),
            arm=np.array([d.arm for _, d in rows], dtype=np.int64),
            delivered=np.array([d.outcome == DELIVERED for _, d in rows], dtype=bool),
        )

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
            state.offer_count[(offer, s)] = state.offer_count.get((offer, s), 0) + 1
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


def _expand(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenate the index ranges [start, start + count) without a Python loop."""
    total = int(counts.sum())
    offsets = np.repeat(starts - (np.cumsum(counts) - counts), counts)
    return offsets + np.arange(total, dtype=np.int64)


def _asof(
    prior: np.ndarray,
    upd_sub: np.ndarray,
    upd_pos: np.ndarray,
    upd_value: np.ndarray,
    query_sub: np.ndarray,
    query_pos: np.ndarray,
    inclusive: bool,
) -> np.ndarray:
    """Per query, the value of the subscriber's latest update at or before its position
    (strictly before unless `inclusive`), else the value carried over from earlier batches."""
    result = prior[query_sub].copy()
    if not len(upd_sub) or not len(query_sub):
        return result
    width = int(max(upd_pos.max(), query_pos.max())) + 1
    keys = upd_sub * width + upd_pos
    order = np.argsort(keys, kind="stable")
    keys, values = keys[order], upd_value[order]
    wanted = query_sub * width + query_pos
    idx = np.searchsorted(keys, wanted, side="right" if inclusive else "left") - 1
    found = idx >= 0
    found[found] = keys[idx[found]] // width == query_sub[found]
    result[found] = np.maximum(result[found], values[idx[found]])
    return result


__all__ = ["Engine", "Decision", "BatchDecisions", "OUTCOMES", "NEVER"]
