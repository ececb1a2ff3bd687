"""The decision stages, compiled: one event at a time, in event order, for both entry points.

`Engine.decide` (one event) and `Engine.decide_batch` (a micro-batch) prepare event columns
in Python/numpy (dense subscriber number, local day, quiet hours, plane coordinates, state
slot of a purchase or site visit) and call the same compiled loop, `decide_events`; one
event is a batch of one. Running the stages event by event keeps segment state exact
without as-of joins, and compiled (numba, cached on disk) it decides millions of events a
second.

Compile time grows with the number of arguments of each compiled function, so the plan is
packed into a few tables with named columns (the constants below) rather than passed as
one argument per array. The zone test (circle distance, even-odd polygon crossing) runs
without fast-math (no fused multiply-adds), so a point on a zone's edge is decided the
same way on every machine.
"""

from __future__ import annotations

import inspect
from typing import NamedTuple

import numpy as np
from numba import njit

from pushlift.engine.events import LOCATION, PURCHASE, SITE_VISIT
from pushlift.engine.geo import KEY_OFFSET
from pushlift.engine.outcomes import (
    BUDGET,
    DELIVERED,
    FREQUENCY_CAP,
    HELD_OUT,
    INACTIVE,
    NO_MATCH,
    QUIET_HOURS,
    SEGMENT,
    SUBSCRIBER_CAP,
)
from pushlift.engine.pair_counts import pair_add, pair_get
from pushlift.engine.plan import IN_ZONE, PURCHASED_AT, TRAITS, VISITED_SITE, Plan
from pushlift.engine.state import EngineState

# Columns of the packed tables.
KIND, SUB, TIME, DAY, QUIET, SLOT = range(6)  # events (int64); SLOT: purchase/visit slot
CIRCLE, POLY_START, POLY_COUNT, ZONE_SLOT, OFFERS_START, OFFERS_COUNT = range(6)  # zones
CX, CY, RADIUS = range(3)  # zones (float64)
ACTIVE, VALID_FROM, VALID_UNTIL, CAP, BID, BUDGET_TOTAL, BUDGET_DAILY = range(7)  # offers
EXPERIMENT, REQUIRED_START, REQUIRED_COUNT = range(7, 10)  # offers, continued
SEG_KIND, SEG_SLOT, SEG_WITHIN = range(3)  # segments
FREQUENCY_MAX, FREQUENCY_PER, RESERVE, SECOND_PRICE = range(4)  # rules
OFFER, PRICE, RUNNER_UP, ELIGIBLE, ARM = range(5)  # per-event decision detail


class KernelPlan(NamedTuple):
    """The plan as packed arrays (offers in auction rank); `decide_events` takes them first,
    in this order."""

    cell_m: float
    cell_keys: np.ndarray  # sorted grid cell keys
    cell_range: np.ndarray  # (cell, [start, count]) into cell_zones
    cell_zones: np.ndarray
    zone_int: np.ndarray  # (zone, CIRCLE..OFFERS_COUNT)
    zone_float: np.ndarray  # (zone, CX..RADIUS)
    vertices: np.ndarray  # (vertex, [x, y]) of all polygons
    zone_offers: np.ndarray
    trip_offers: np.ndarray
    offer_int: np.ndarray  # (offer, ACTIVE..REQUIRED_COUNT)
    required: np.ndarray  # required segment indices, sliced per offer
    arm_holdout: np.ndarray  # (experiment, arm), padded with False
    segment_int: np.ndarray  # (segment, SEG_KIND..SEG_WITHIN)
    rules: np.ndarray  # FREQUENCY_MAX..SECOND_PRICE


def _csr(lists: list[list[int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    count = np.array([len(x) for x in lists], dtype=np.int64)
    start = (np.cumsum(count) - count).astype(np.int64)
    flat = np.array([v for x in lists for v in x], dtype=np.int64)
    return start, count, flat


def _columns(*columns: object, dtype: type = np.int64, rows: int) -> np.ndarray:
    table = np.zeros((rows, len(columns)), dtype=dtype)
    for j, column in enumerate(columns):
        table[:, j] = column
    return table


def kernel_plan(plan: Plan) -> KernelPlan:
    zones = plan.zones
    shapes = zones.shapes
    poly_start, poly_count, _ = _csr([list(s.xs) for s in shapes])
    required_start, required_count, required = _csr(plan.required)
    arms = max([len(h) for h in plan.arm_holdout], default=1)
    holdout = np.zeros((len(plan.arm_holdout), arms), dtype=np.bool_)
    for e, h in enumerate(plan.arm_holdout):
        holdout[e, : len(h)] = h
    n_zones, n_offers = len(shapes), len(plan.offer_ids)
    return KernelPlan(
        cell_m=float(zones.cell_m),
        cell_keys=np.array(zones.cell_keys, dtype=np.int64),
        cell_range=_columns(zones.cell_start, zones.cell_count, rows=len(zones.cell_keys)),
        cell_zones=np.array(zones.cell_zones, dtype=np.int64),
        zone_int=_columns(
            zones.is_circle,
            poly_start,
            poly_count,
            plan.zone_slot_of_zone,
            plan.zone_offer_start,
            plan.zone_offer_count,
            rows=n_zones,
        ),
        zone_float=_columns(zones.cx, zones.cy, zones.radius, dtype=np.float64, rows=n_zones),
        vertices=np.array(
            [(x, y) for s in shapes for x, y in zip(s.xs, s.ys, strict=True)], dtype=np.float64
        ).reshape(-1, 2),
        zone_offers=np.array(plan.zone_offers, dtype=np.int64),
        trip_offers=np.array(plan.trip_offers, dtype=np.int64),
        offer_int=_columns(
            plan.active,
            plan.valid_from,
            plan.valid_until,
            plan.cap,
            plan.bid,
            plan.budget,
            plan.daily_budget,
            plan.offer_experiment,
            required_start,
            required_count,
            rows=n_offers,
        ),
        required=required,
        arm_holdout=holdout,
        segment_int=_columns(
            [s.kind for s in plan.segments],
            [s.slot for s in plan.segments],
            [s.within_us for s in plan.segments],
            rows=len(plan.segments),
        ),
        rules=np.array(
            [plan.frequency_max, plan.frequency_per_us, plan.reserve, plan.second_price],
            dtype=np.int64,
        ),
    )


def state_arrays(state: EngineState) -> tuple[np.ndarray, ...]:
    """The state's arrays, in `decide_events` order (the kernel updates them in place)."""
    pairs, spend = state.offer_count, state.spend
    return (
        state.zone_seen,
        state.bought,
        state.visited,
        state.last_purchase_day,
        state.traits,
        state.arm,
        state.recent,
        pairs.keys,
        pairs.counts,
        pairs.used,
        spend.total,
        spend.today,
        spend.day,
    )


# -- stages 1-2: zones and candidates -------------------------------------------------------
@njit(cache=True, inline="always")
def _inside(zone_int, zone_float, vertices, zone, x, y):
    if zone_int[zone, CIRCLE]:
        dx, dy = x - zone_float[zone, CX], y - zone_float[zone, CY]
        r = zone_float[zone, RADIUS]
        return dx * dx + dy * dy <= r * r
    inside = False
    start, n = zone_int[zone, POLY_START], zone_int[zone, POLY_COUNT]
    for i in range(n):
        j = start + (i - 1 if i > 0 else n - 1)  # the previous vertex, wrapping around
        x1, y1 = vertices[j, 0], vertices[j, 1]
        x2, y2 = vertices[start + i, 0], vertices[start + i, 1]
        if (y1 > y) != (y2 > y) and x < (x2 - x1) * (y - y1) / (y2 - y1) + x1:
            inside = not inside
    return inside


@njit(cache=True, inline="always")
def _cell(cell_m, cell_keys, x, y):
    """The grid cell (row of cell_keys) holding (x, y), or -1."""
    if not (np.isfinite(x) and np.isfinite(y)):
        return -1
    ix, iy = np.int64(np.floor(x / cell_m)), np.int64(np.floor(y / cell_m))
    key = (ix + KEY_OFFSET) * (1 << 31) + (iy + KEY_OFFSET)
    lo, hi = 0, len(cell_keys)  # binary search (cheaper to compile than np.searchsorted)
    while lo < hi:
        mid = (lo + hi) // 2
        if cell_keys[mid] < key:
            lo = mid + 1
        else:
            hi = mid
    return lo if lo < len(cell_keys) and cell_keys[lo] == key else -1


@njit(cache=True, inline="always")
def _sort(values, n):
    """Insertion sort of values[:n]: candidates are few, and already sorted within a zone."""
    for i in range(1, n):
        v, j = values[i], i - 1
        while j >= 0 and values[j] > v:
            values[j + 1] = values[j]
            j -= 1
        values[j + 1] = v


# -- stage 5: segments ----------------------------------------------------------------------
@njit(cache=True, inline="always")
def _holds(segment_int, g, zone_seen, bought, visited, traits, s, t, first_of_trip):
    kind, slot = segment_int[g, SEG_KIND], segment_int[g, SEG_SLOT]
    since = t - segment_int[g, SEG_WITHIN]
    if kind == IN_ZONE:
        return zone_seen[slot, s] >= since
    if kind == PURCHASED_AT:
        return bought[slot, s] >= since
    if kind == VISITED_SITE:
        return visited[slot, s] >= since
    if kind == TRAITS:
        return traits[slot, s]
    return first_of_trip  # FIRST_PURCHASE_OF_TRIP


# -- stages 6-10: caps, budgets, auction, arm -----------------------------------------------
@njit(cache=True, inline="always")
def _settle(
    offer_int,
    arm_holdout,
    rules,
    arm,
    recent,
    pairs,
    spend,
    s,
    t,
    day,
    candidates,
    n,
    detail,
    i,
):
    """The outcome for candidates[:n] (in rank order); a notification's detail goes to
    detail[i]. `pairs` is the per-subscriber cap's counter (keys, counts, used), `spend`
    the offers' spend (total, today, day)."""
    if rules[FREQUENCY_MAX]:
        sent = 0
        for k in range(recent.shape[1]):
            if recent[s, k] > t - rules[FREQUENCY_PER]:
                sent += 1
        if sent >= rules[FREQUENCY_MAX]:
            return FREQUENCY_CAP
    keys, counts, used = pairs
    spend_total, spend_today, spend_day = spend
    winner, runner_up, eligible, capped = -1, -1, 0, 0
    for k in range(n):
        o = candidates[k]
        cap, bid = offer_int[o, CAP], offer_int[o, BID]
        if cap and pair_get(keys, counts, o, s) >= cap:
            capped += 1
            continue
        today = spend_today[o] if spend_day[o] == day else 0
        if spend_total[o] + bid > offer_int[o, BUDGET_TOTAL]:
            continue
        if today + bid > offer_int[o, BUDGET_DAILY]:
            continue
        # Candidates arrive in rank order, so the first eligible one wins.
        if eligible == 0:
            winner = o
        elif eligible == 1:
            runner_up = bid
        eligible += 1
    if eligible == 0:
        return SUBSCRIBER_CAP if capped == n else BUDGET
    price = max(rules[RESERVE], runner_up) if rules[SECOND_PRICE] else offer_int[winner, BID]
    exp = offer_int[winner, EXPERIMENT]
    group = arm[exp, s] if exp >= 0 else -1
    held_out = exp >= 0 and arm_holdout[exp, group]
    # Caps count held-out notifications too; only delivered ones are charged.
    if rules[FREQUENCY_MAX]:
        oldest = 0  # replaces the oldest time (the first, on ties: as np.argmin)
        for k in range(1, recent.shape[1]):
            if recent[s, k] < recent[s, oldest]:
                oldest = k
        recent[s, oldest] = t
    if offer_int[winner, CAP]:
        pair_add(keys, counts, used, winner, s)
    if not held_out:
        if spend_day[winner] != day:
            spend_day[winner] = day
            spend_today[winner] = 0
        spend_total[winner] += price
        spend_today[winner] += price
    detail[i, OFFER], detail[i, PRICE], detail[i, RUNNER_UP] = winner, price, runner_up
    detail[i, ELIGIBLE], detail[i, ARM] = eligible, group
    return HELD_OUT if held_out else DELIVERED


# -- all stages, event by event -------------------------------------------------------------
@njit(cache=True)
def decide_events(
    # the plan (KernelPlan)
    cell_m,
    cell_keys,
    cell_range,
    cell_zones,
    zone_int,
    zone_float,
    vertices,
    zone_offers,
    trip_offers,
    offer_int,
    required,
    arm_holdout,
    segment_int,
    rules,
    # the state (state_arrays)
    zone_seen,
    bought,
    visited,
    last_purchase_day,
    traits,
    arm,
    recent,
    pair_keys,
    pair_counts,
    pair_used,
    spend_total,
    spend_today,
    spend_day,
    # the events and the answers
    events,
    xy,
    settle,
    outcome,
    detail,
):
    """Stages 1-10 for each event in order: the plan (KernelPlan), the state (state_arrays),
    then events (n, KIND..SLOT) with plane coordinates xy (n, 2). Writes outcome (n,) and,
    for notifications, detail (n, OFFER..ARM)."""
    candidates = np.empty(max(len(offer_int), 1), dtype=np.int64)
    pairs = (pair_keys, pair_counts, pair_used)
    spend = (spend_total, spend_today, spend_day)
    for i in range(len(events)):
        kind, s, t, day = events[i, KIND], events[i, SUB], events[i, TIME], events[i, DAY]
        slot = events[i, SLOT]
        # Stages 1-2: update segment state with the event itself; candidate offers.
        n = 0
        first_of_trip = False
        if kind == LOCATION:
            cell = _cell(cell_m, cell_keys, xy[i, 0], xy[i, 1])
            start, count = (cell_range[cell, 0], cell_range[cell, 1]) if cell >= 0 else (0, 0)
            for c in range(start, start + count):
                zone = cell_zones[c]
                if not _inside(zone_int, zone_float, vertices, zone, xy[i, 0], xy[i, 1]):
                    continue
                if zone_int[zone, ZONE_SLOT] >= 0:
                    row = zone_int[zone, ZONE_SLOT]
                    zone_seen[row, s] = max(zone_seen[row, s], t)
                first = zone_int[zone, OFFERS_START]
                for k in range(first, first + zone_int[zone, OFFERS_COUNT]):
                    candidates[n] = zone_offers[k]
                    n += 1
            _sort(candidates, n)  # rank order: bid desc, then offer id
        elif kind == PURCHASE:
            if slot >= 0:
                bought[slot, s] = max(bought[slot, s], t)
            first_of_trip = last_purchase_day[s] != day
            last_purchase_day[s] = day
            if first_of_trip:
                for o in trip_offers:  # a loop: slice assignment is slow to compile
                    candidates[n] = o
                    n += 1
        elif kind == SITE_VISIT and slot >= 0:
            visited[slot, s] = max(visited[slot, s], t)
        outcome[i] = NO_MATCH
        if n == 0:
            continue
        # Stage 3: enabled, at least the reserve, inside the validity window.
        kept = 0
        for k in range(n):
            o = candidates[k]
            if offer_int[o, ACTIVE] and offer_int[o, VALID_FROM] <= t < offer_int[o, VALID_UNTIL]:
                candidates[kept] = o
                kept += 1
        if kept == 0:
            outcome[i] = INACTIVE
            continue
        # Stage 4: quiet hours.
        if events[i, QUIET]:
            outcome[i] = QUIET_HOURS
            continue
        # Stage 5: every required segment holds.
        n, kept = kept, 0
        for j in range(n):
            o = candidates[j]
            ok = True
            first = offer_int[o, REQUIRED_START]
            for k in range(first, first + offer_int[o, REQUIRED_COUNT]):
                g = required[k]
                if not _holds(
                    segment_int, g, zone_seen, bought, visited, traits, s, t, first_of_trip
                ):
                    ok = False
                    break
            if ok:
                candidates[kept] = o
                kept += 1
        if kept == 0:
            outcome[i] = SEGMENT
            continue
        if not settle:  # rebuilding segment state only
            continue
        outcome[i] = _settle(
            offer_int,
            arm_holdout,
            rules,
            arm,
            recent,
            pairs,
            spend,
            s,
            t,
            day,
            candidates,
            kept,
            detail,
            i,
        )


# The plan's fields are passed positionally: keep KernelPlan and the signature in step.
assert list(inspect.signature(decide_events.py_func).parameters)[: len(KernelPlan._fields)] == (
    list(KernelPlan._fields)
)
