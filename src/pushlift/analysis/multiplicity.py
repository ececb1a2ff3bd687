"""Holm and Benjamini-Hochberg adjustment applied to a family of result records."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import TypeVar

from pushlift.analysis.stats import benjamini_hochberg, holm

R = TypeVar("R")


def with_adjusted_p(items: Sequence[R], p_values: Sequence[float]) -> list[R]:
    """Copies of `items` with `p_holm` and `p_bh` set, adjusting across the whole family.

    Non-finite p-values (failed estimates) stay out of the family and get NaN.
    """
    usable = [i for i, p in enumerate(p_values) if math.isfinite(p)]
    h = holm([p_values[i] for i in usable])
    b = benjamini_hochberg([p_values[i] for i in usable])
    adj_h, adj_b = [math.nan] * len(items), [math.nan] * len(items)
    for j, i in enumerate(usable):
        adj_h[i], adj_b[i] = h[j], b[j]
    return [replace(it, p_holm=adj_h[i], p_bh=adj_b[i]) for i, it in enumerate(items)]
