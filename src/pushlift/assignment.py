"""Deterministic randomized assignment: the arm is a hash of (experiment, unit).

The same experiment and unit always land in the same arm, on any machine and in any
order of arrival, so a real-time engine and a batch job agree without sharing state.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)


def _salt(experiment_id: str, seed: int) -> np.uint64:
    digest = hashlib.blake2b(f"{experiment_id}\x00{seed}".encode(), digest_size=8).digest()
    return np.uint64(int.from_bytes(digest, "little"))


def _splitmix64(x: np.ndarray) -> np.ndarray:
    # A well-mixed 64-bit finaliser (Steele et al.); uint64 arithmetic wraps by design.
    with np.errstate(over="ignore"):
        x = (x + np.uint64(0x9E3779B97F4A7C15)) & _MASK
        x = ((x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _MASK
        x = ((x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _MASK
        return x ^ (x >> np.uint64(31))


def unit_hash(experiment_id: str, unit_ids: np.ndarray, seed: int = 0) -> np.ndarray:
    """Uniform numbers in [0, 1), one per unit, fixed by (experiment, seed, unit)."""
    ids = np.asarray(unit_ids).astype(np.uint64)
    mixed = _splitmix64(ids ^ _salt(experiment_id, seed))
    return (mixed >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def assign_arms(
    experiment_id: str,
    unit_ids: np.ndarray,
    arms: Sequence[str],
    weights: Sequence[float],
    seed: int = 0,
) -> np.ndarray:
    """The arm of each unit: the hash's position on the cumulative weights."""
    if len(arms) != len(weights) or not arms:
        raise ValueError("arms and weights must be non-empty and of the same length")
    w = np.asarray(weights, dtype=float)
    if (w <= 0).any():
        raise ValueError("arm weights must be positive")
    edges = np.cumsum(w / w.sum())
    idx = np.searchsorted(edges, unit_hash(experiment_id, unit_ids, seed), side="right")
    return np.asarray(arms, dtype=object)[np.minimum(idx, len(arms) - 1)]
