"""The engine's hot state, held in memory as arrays indexed by a dense subscriber number.

Segment state is "the last time" per (slot, subscriber): last seen in a zone, last bought
at a vendor, last visited a vendor's site; plus the local day of the last purchase (for
the trip trigger). Delivery state is the recent notification times per subscriber (the
frequency cap), notifications per (offer, subscriber) (the per-subscriber cap) and spend
per offer (budgets). Both decision paths read and write exactly this state.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pushlift.assignment import ArmRule
from pushlift.engine.pair_counts import PairCounts
from pushlift.engine.plan import NEVER, Plan
from pushlift.schema import AGE_BANDS

SMALL = 32  # up to this many ids, `subscribers` looks each up in a dict


@dataclass(frozen=True)
class Traits:
    """Known traits of subscribers: parallel arrays (age, 'F'/'M', loyalty 1=low 2=high)."""

    subscriber_id: np.ndarray
    age: np.ndarray
    gender: np.ndarray
    loyalty_status: np.ndarray


def _age_band(age: np.ndarray) -> np.ndarray:
    labels = np.array([label for label, _, _ in AGE_BANDS], dtype=object)
    highs = np.array([hi for _, _, hi in AGE_BANDS])
    return labels[np.minimum(np.searchsorted(highs, age, side="left"), len(labels) - 1)]


@dataclass
class OfferSpend:
    total: np.ndarray  # cents charged per offer, all time
    today: np.ndarray  # cents charged per offer on `day`
    day: np.ndarray  # local day number `today` refers to


@dataclass
class EngineState:
    plan: Plan
    capacity: int = 1024
    index: dict[int, int] = field(default_factory=dict)
    ids: list[int] = field(default_factory=list)
    offer_count: PairCounts = field(default_factory=PairCounts)  # per (offer, subscriber)

    def __post_init__(self) -> None:
        p, c = self.plan, self.capacity
        self.zone_seen = np.full((len(p.zone_slots), c), NEVER, dtype=np.int64)
        self.bought = np.full((len(p.vendor_slots), c), NEVER, dtype=np.int64)
        self.visited = np.full((len(p.site_slots), c), NEVER, dtype=np.int64)
        self.last_purchase_day = np.full(c, NEVER, dtype=np.int64)
        self.recent = np.full((c, max(p.frequency_max, 1)), NEVER, dtype=np.int64)
        self.traits = np.zeros((len(p.trait_segments), c), dtype=bool)
        self.arm = np.zeros((len(p.experiments), c), dtype=np.int64)
        n = len(p.offer_ids)
        self.spend = OfferSpend(
            np.zeros(n, np.int64), np.zeros(n, np.int64), np.full(n, NEVER, np.int64)
        )
        self._arm_rules = [
            ArmRule(exp.id, [a.weight for a in exp.arms], exp.seed) for exp in p.experiments
        ]
        # Subscribers with known traits (sorted ids) and, per trait segment, whether each
        # is in it: worked out once, so registering a subscriber is a lookup.
        self._trait_ids = np.empty(0, dtype=np.int64)
        self._trait_holds = np.zeros((len(p.trait_segments), 0), dtype=bool)
        # The index `_lookup` uses: ids registered so far (`_indexed` of them, from `_lo` to
        # `_hi`), as a direct table (dense number by id - `_direct_lo`, or -1), or, for
        # sparse ids, sorted with their dense numbers.
        self._indexed, self._lo, self._hi = 0, 0, -1
        self._direct: np.ndarray | None = None
        self._direct_lo = 0
        self._sorted_ids = np.empty(0, dtype=np.int64)
        self._sorted_numbers = np.empty(0, dtype=np.int64)

    # -- subscribers --------------------------------------------------------------------
    def set_traits(self, traits: Traits) -> None:
        """Traits for trait segments; subscribers without traits match no trait segment.
        An id given twice keeps its last traits."""
        ids = np.asarray(traits.subscriber_id, dtype=np.int64)
        unique, last_reversed = np.unique(ids[::-1], return_index=True)
        at = len(ids) - 1 - last_reversed
        band = _age_band(np.asarray(traits.age)[at])
        gender = np.asarray(traits.gender, dtype=object)[at]
        loyalty = np.asarray(traits.loyalty_status)[at]
        holds = np.ones((len(self.plan.trait_segments), len(unique)), dtype=bool)
        for t, seg in enumerate(self.plan.trait_segments):
            if seg.age_bands is not None:
                holds[t] &= np.isin(band, seg.age_bands)
            if seg.gender is not None:
                holds[t] &= gender == seg.gender
            if seg.loyalty is not None:
                holds[t] &= loyalty == (2 if seg.loyalty == "high" else 1)
        self._trait_ids, self._trait_holds = unique, holds
        self.traits[:] = False
        if self.ids and len(unique):
            self._fill_traits(np.arange(len(self.ids)), np.array(self.ids, dtype=np.int64))

    def subscriber(self, subscriber_id: int) -> int:
        """The dense number of one subscriber, registering it on first sight."""
        found = self.index.get(subscriber_id)
        if found is not None:
            return found
        return int(self._register(np.array([subscriber_id], dtype=np.int64))[0])

    def subscribers(self, subscriber_ids: np.ndarray) -> np.ndarray:
        """Dense numbers of many subscribers (registering new ones in order of appearance)."""
        if len(subscriber_ids) <= SMALL:
            return self._few(subscriber_ids)
        known = self._lookup(subscriber_ids)
        if known is not None:
            return known
        unique, inverse = np.unique(subscriber_ids, return_inverse=True)
        get = self.index.get
        dense = np.array([get(s, -1) for s in unique.tolist()], dtype=np.int64)
        new = dense < 0
        if new.any():
            # Register in order of first appearance so both paths number subscribers alike.
            first_seen = np.full(len(unique), len(subscriber_ids), dtype=np.int64)
            np.minimum.at(first_seen, inverse, np.arange(len(subscriber_ids)))
            fresh = np.flatnonzero(new)
            fresh = fresh[np.argsort(first_seen[fresh], kind="stable")]
            dense[fresh] = self._register(unique[fresh])
        return dense[inverse]

    def _few(self, subscriber_ids: np.ndarray) -> np.ndarray:
        """`subscribers` for a few ids (a live request's): dict lookups cost less than
        the array machinery's fixed cost at this size."""
        get, dense, new = self.index.get, [], []
        for sid in subscriber_ids.tolist():
            found = get(sid)
            if found is None:  # new: numbered -1, -2, .. in order of first appearance
                if sid not in new:
                    new.append(sid)
                found = -1 - new.index(sid)
            dense.append(found)
        out = np.array(dense, dtype=np.int64)
        if new:
            numbers = self._register(np.array(new, dtype=np.int64))
            fresh = out < 0
            out[fresh] = numbers[-1 - out[fresh]]
        return out

    def _lookup(self, subscriber_ids: np.ndarray) -> np.ndarray | None:
        """Dense numbers of known subscribers without a dict lookup per id (the cost that
        dominated large batches), or None if any id is new. Ids that fill most of their
        range (the usual case) index a table directly; others are binary-searched."""
        if self._indexed < len(self.ids):
            self._index_new_ids()
        if not self._indexed or not len(subscriber_ids):
            return None
        if subscriber_ids.min() < self._lo or subscriber_ids.max() > self._hi:
            return None
        if self._direct is not None:
            dense = self._direct[subscriber_ids - self._lo]
            return None if (dense < 0).any() else dense
        pos = np.searchsorted(self._sorted_ids, subscriber_ids)
        pos = np.minimum(pos, len(self._sorted_ids) - 1)
        if not (self._sorted_ids[pos] == subscriber_ids).all():
            return None
        return self._sorted_numbers[pos]

    def _index_new_ids(self) -> None:
        """Index the ids registered since the last lookup (a subscriber's dense number is
        its position in `ids`). The direct table is filled in place while the new ids fit
        it, and made anew, with room to grow, only when they do not: new subscribers arrive
        in most small batches, and remaking it each time cost more than deciding them."""
        new = np.array(self.ids[self._indexed :], dtype=np.int64)
        numbers = np.arange(self._indexed, len(self.ids), dtype=np.int64)
        lo, hi = int(new.min()), int(new.max())
        if self._indexed:
            lo, hi = min(lo, self._lo), max(hi, self._hi)
        self._indexed, self._lo, self._hi = len(self.ids), lo, hi
        if hi - lo + 1 > 4 * len(self.ids) + 1024:  # sparse ids: binary search instead
            if self._direct is not None or not len(self._sorted_ids):
                self._direct = None
                new, numbers = np.array(self.ids, dtype=np.int64), np.arange(len(self.ids))
                self._sorted_ids = self._sorted_numbers = np.empty(0, dtype=np.int64)
            order = np.argsort(new)
            at = np.searchsorted(self._sorted_ids, new[order])
            self._sorted_ids = np.insert(self._sorted_ids, at, new[order])
            self._sorted_numbers = np.insert(self._sorted_numbers, at, numbers[order])
            return
        direct = self._direct
        if direct is not None and lo >= self._direct_lo and hi < self._direct_lo + len(direct):
            direct[new - self._direct_lo] = numbers
            return
        size = max(hi - lo + 1, 2 * len(direct) if direct is not None else 0)
        self._direct = np.full(size, -1, dtype=np.int64)
        self._direct_lo = lo
        self._direct[np.array(self.ids, dtype=np.int64) - lo] = np.arange(len(self.ids))

    def _register(self, subscriber_ids: np.ndarray) -> np.ndarray:
        start = len(self.ids)
        self._grow(start + len(subscriber_ids))
        numbers = np.arange(start, start + len(subscriber_ids), dtype=np.int64)
        for sid, num in zip(subscriber_ids.tolist(), numbers.tolist(), strict=True):
            self.index[sid] = num
        self.ids.extend(subscriber_ids.tolist())
        for e, rule in enumerate(self._arm_rules):
            self.arm[e, numbers] = rule.arm_index(subscriber_ids)
        if len(self._trait_ids):
            self._fill_traits(numbers, subscriber_ids)
        return numbers

    def _fill_traits(self, numbers: np.ndarray, subscriber_ids: np.ndarray) -> None:
        known = self._trait_ids
        pos = np.minimum(np.searchsorted(known, subscriber_ids), len(known) - 1)
        has = known[pos] == subscriber_ids
        self.traits[:, numbers[has]] = self._trait_holds[:, pos[has]]

    def _grow(self, needed: int) -> None:
        if needed <= self.capacity:
            return
        new = max(needed, 2 * self.capacity)

        def widen(a: np.ndarray, fill: object, axis: int) -> np.ndarray:
            # Filled in place: np.concatenate with a filled block measured 10x slower here
            # at 100k subscribers (the growth then cost more than deciding).
            shape = list(a.shape)
            shape[axis] = new
            out = np.empty(shape, dtype=a.dtype)
            old = [slice(None)] * a.ndim
            old[axis] = slice(0, self.capacity)
            out[tuple(old)] = a
            old[axis] = slice(self.capacity, new)
            out[tuple(old)] = fill
            return out

        self.zone_seen = widen(self.zone_seen, NEVER, 1)
        self.bought = widen(self.bought, NEVER, 1)
        self.visited = widen(self.visited, NEVER, 1)
        self.last_purchase_day = widen(self.last_purchase_day, NEVER, 0)
        self.recent = widen(self.recent, NEVER, 0)
        self.traits = widen(self.traits, False, 1)
        self.arm = widen(self.arm, 0, 1)
        self.capacity = new
