"""Notifications per (offer, subscriber): the per-subscriber cap's counter.

A dict keyed by tuples cannot be read from compiled code, and a dense offers x subscribers
array would not fit (1,000 offers x 100,000 subscribers), so this is a small open-addressing
hash table in two numpy arrays: `keys` (offer << 32 | subscriber, EMPTY where free) and
`counts`. The compiled decision kernel reads and increments it with `pair_get`/`pair_add`;
Python uses the same functions through `PairCounts`. Only offers with a cap are counted.
"""

from __future__ import annotations

import numpy as np
from numba import njit

EMPTY = -1
_MIX = -7046029254386353131  # 0x9E3779B97F4A7C15 as int64 (Fibonacci hashing)


@njit(cache=True, inline="always")
def pair_key(offer: int, subscriber: int) -> int:
    return (offer << 32) | subscriber


@njit(cache=True, inline="always")
def _slot(keys: np.ndarray, key: int) -> int:
    """Where `key` is, or the free slot where it would go (linear probing)."""
    mask = len(keys) - 1
    h = key * _MIX
    i = (h ^ (h >> 29)) & mask
    while keys[i] != key and keys[i] != EMPTY:
        i = (i + 1) & mask
    return i


@njit(cache=True, inline="always")
def pair_get(keys: np.ndarray, counts: np.ndarray, offer: int, subscriber: int) -> int:
    key = pair_key(offer, subscriber)
    i = _slot(keys, key)
    return counts[i] if keys[i] == key else 0


@njit(cache=True, inline="always")
def pair_add(
    keys: np.ndarray, counts: np.ndarray, used: np.ndarray, offer: int, subscriber: int
) -> None:
    """Count one more notification. The caller keeps the table at most half full."""
    key = pair_key(offer, subscriber)
    i = _slot(keys, key)
    if keys[i] == EMPTY:
        keys[i] = key
        used[0] += 1
    counts[i] += 1


@njit(cache=True)
def _rehash(keys: np.ndarray, counts: np.ndarray, new_keys: np.ndarray, new_counts: np.ndarray):
    for j in range(len(keys)):
        if keys[j] != EMPTY:
            i = _slot(new_keys, keys[j])
            new_keys[i] = keys[j]
            new_counts[i] = counts[j]


class PairCounts:
    """The table itself; `reserve(n)` before up to n insertions keeps probing short."""

    def __init__(self, size: int = 1024) -> None:
        self.keys = np.full(size, EMPTY, dtype=np.int64)  # size: a power of two
        self.counts = np.zeros(size, dtype=np.int64)
        self.used = np.zeros(1, dtype=np.int64)  # an array so compiled code can update it

    def __len__(self) -> int:
        return int(self.used[0])

    def get(self, offer: int, subscriber: int) -> int:
        return int(pair_get(self.keys, self.counts, offer, subscriber))

    def add(self, offer: int, subscriber: int) -> None:
        self.reserve(1)
        pair_add(self.keys, self.counts, self.used, offer, subscriber)

    def reserve(self, more: int) -> None:
        """Grow (doubling) so that `more` new pairs still leave the table at most half full."""
        need = 2 * (len(self) + more)
        if need <= len(self.keys):
            return
        size = len(self.keys)
        while size < need:
            size *= 2
        keys = np.full(size, EMPTY, dtype=np.int64)
        counts = np.zeros(size, dtype=np.int64)
        _rehash(self.keys, self.counts, keys, counts)
        self.keys, self.counts = keys, counts
