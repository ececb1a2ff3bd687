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


class ArmRule:
    """One experiment's assignment, prepared once: its salt and cumulative weights, so a
    few new units at a time (the live path) cost no hashing of the experiment id."""

    def __init__(self, experiment_id: str, weights: Sequence[float], seed: int = 0) -> None:
        w = np.asarray(weights, dtype=float)
        if not len(w):
            raise ValueError("an experiment needs at least one arm")
        if (w <= 0).any():
            raise ValueError("arm weights must be positive")
        self.salt = _salt(experiment_id, seed)
        self.edges = np.cumsum(w / w.sum())

    def arm_index(self, unit_ids: np.ndarray) -> np.ndarray:
        """The arm (position in the weights) of each unit."""
        mixed = _splitmix64(np.asarray(unit_ids).astype(np.uint64) ^ self.salt)
        uniform = (mixed >> np.uint64(11)).astype(np.float64) / float(1 << 53)
        idx = np.searchsorted(self.edges, uniform, side="right")
        return np.minimum(idx, len(self.edges) - 1)


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
    idx = ArmRule(experiment_id, weights, seed).arm_index(unit_ids)
    return np.asarray(arms, dtype=object)[idx]
