"""Sequential tests under continuous peeking. Simulated A/A experiments (no effect), looked
at after every batch of units: stopping at the first look whose fixed-horizon interval
excludes zero wrongly finds an effect far more often than 5%; stopping on the always-valid
interval (what `--sequential` reports) stays at or under 5%. With a real effect, the
always-valid interval covers it at every look together at least 95% of the time."""

from __future__ import annotations

import numpy as np

from pushlift.analysis.stats import SampleMean, sequential_test, welch_test

EXPERIMENTS, LOOKS, PER_LOOK = 400, 20, 50  # per arm and look: up to 1,000 units per arm
TUNING = 2 * LOOKS * PER_LOOK  # tightest at the last look


def looks(rng: np.random.Generator, lift: float) -> list[tuple[SampleMean, SampleMean]]:
    """Cumulative statistics per look; skewed spend (lognormal), the treated scaled by 1 + lift."""
    control = rng.lognormal(1.0, 1.0, LOOKS * PER_LOOK)
    treated = rng.lognormal(1.0, 1.0, LOOKS * PER_LOOK) * (1 + lift)
    out = []
    for k in range(1, LOOKS + 1):
        c, t = control[: k * PER_LOOK], treated[: k * PER_LOOK]
        out.append(
            (SampleMean(len(c), c.sum(), (c**2).sum()), SampleMean(len(t), t.sum(), (t**2).sum()))
        )
    return out


def excludes(value: float, estimate) -> bool:
    return not estimate.ci_low <= value <= estimate.ci_high


def test_peeking_inflates_fixed_horizon_errors_but_not_always_valid_ones() -> None:
    rng = np.random.default_rng(2026)
    fixed_errors = sequential_errors = 0
    for _ in range(EXPERIMENTS):
        path = looks(rng, lift=0.0)
        fixed_errors += any(excludes(0.0, welch_test(c, t, relative=False)) for c, t in path)
        sequential_errors += any(
            excludes(0.0, sequential_test(c, t, n_star=TUNING, relative=False)) for c, t in path
        )
    fixed, sequential = fixed_errors / EXPERIMENTS, sequential_errors / EXPERIMENTS
    # Twenty looks at a 5% test: about a quarter of null experiments "find" an effect.
    assert fixed > 0.12, fixed
    assert sequential <= 0.05, sequential


def test_always_valid_intervals_cover_a_real_lift_at_every_look() -> None:
    rng = np.random.default_rng(7)
    mean = np.exp(1.0 + 0.5)  # of lognormal(1, 1)
    lift = 0.1
    misses = 0
    for _ in range(EXPERIMENTS):
        path = looks(rng, lift)
        misses += any(
            excludes(lift * mean, sequential_test(c, t, n_star=TUNING, relative=False))
            for c, t in path
        )
    assert misses / EXPERIMENTS <= 0.05, misses / EXPERIMENTS
