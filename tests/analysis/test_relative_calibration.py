"""Calibration of the reported intervals on skewed spend, and the rule that flags the rest.

The grid: n = 20 to 20,000 per arm; 2-30% of units spend anything; the amounts lognormal
with sigma 1 to 2.5; the treatment multiplies amounts by 1.10 (a true lift of +10%). Each
cell has 1,500 seeded replicates, analysed by the library's own functions (Welch, Fieller,
the skew rule of `effects.sample_size_warnings`).

- Wherever the rule gives no warning, the absolute interval and the relative one (Fieller)
  cover the truth 93-97% of the time (1,500 replicates put a calibrated interval outside
  that band with probability under 0.1% per cell).
- Where an interval covers less than 93% overall, the rule warns on most replicates.
- Fieller against the delta method: over the grid, Fieller's coverage stays closer to 95%
  (the delta method's symmetric interval ignores the ratio's skew: 75-90% in small cells).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from pushlift.analysis.effects import sample_size_warnings
from pushlift.analysis.stats import SampleMean, fieller_test, welch_test

REPLICATES = 1500
LIFT = 0.10
SIZES, SHARES, SIGMAS = (20, 200, 2000, 20000), (0.02, 0.1, 0.3), (1.0, 1.75, 2.5)
BAND = (0.93, 0.97)
MIN_UNWARNED = 500  # cells judged on at least this many unwarned replicates


def _arm(rng: np.random.Generator, n: int, share: float, sigma: float, scale: float):
    """Sufficient statistics of `REPLICATES` arms: n units, each spending with probability
    `share` an amount lognormal(0, sigma) * scale."""
    k = rng.binomial(n, share, REPLICATES)
    amounts = rng.lognormal(0.0, sigma, k.sum()) * scale
    owner = np.repeat(np.arange(REPLICATES), k)
    total = np.bincount(owner, weights=amounts, minlength=REPLICATES)
    squares = np.bincount(owner, weights=amounts**2, minlength=REPLICATES)
    return [SampleMean(n, float(s), float(q)) for s, q in zip(total, squares, strict=True)]


def _cell(n: int, share: float, sigma: float) -> dict[str, np.ndarray]:
    rng = np.random.default_rng([n, round(share * 100), round(sigma * 100)])
    control = _arm(rng, n, share, sigma, 1.0)
    treated = _arm(rng, n, share, sigma, 1.0 + LIFT)
    true_abs = LIFT * share * np.exp(sigma**2 / 2)
    rows = []
    for c, t in zip(control, treated, strict=True):
        absolute = welch_test(c, t, relative=False, allow_constant_arm=True)
        fieller = fieller_test(c, t, allow_constant_arm=True)
        delta = welch_test(c, t, relative=True, allow_constant_arm=True)
        warned = bool(sample_size_warnings("control", "treated", c, t, absolute))
        rows.append((
            warned,
            absolute.error is None, absolute.ci_low <= true_abs <= absolute.ci_high,
            fieller.error is None, fieller.ci_low <= LIFT <= fieller.ci_high,
            delta.error is None, delta.ci_low <= LIFT <= delta.ci_high,
        ))  # fmt: skip
    names = ("warned", "abs_ok", "abs_hit", "fieller_ok", "fieller_hit", "delta_ok", "delta_hit")
    return dict(zip(names, np.array(rows, dtype=bool).T, strict=True))


@pytest.fixture(scope="module", params=SIGMAS, ids=lambda s: f"sigma={s}")
def cells(request: pytest.FixtureRequest) -> dict[tuple[int, float], dict[str, np.ndarray]]:
    sigma = request.param
    return {(n, share): _cell(n, share, sigma) for n, share in itertools.product(SIZES, SHARES)}


def test_unwarned_intervals_cover_93_to_97_percent(cells) -> None:
    judged = 0
    for (n, share), c in cells.items():
        quiet = ~c["warned"] & c["abs_ok"]
        if quiet.sum() < MIN_UNWARNED:
            continue
        judged += 1
        for what, hit, ok in (("absolute", "abs_hit", "abs_ok"),
                              ("relative", "fieller_hit", "fieller_ok")):  # fmt: skip
            usable = quiet & c[ok]
            coverage = c[hit][usable].mean()
            assert BAND[0] <= coverage <= BAND[1], (n, share, what, coverage, usable.sum())
            # Unwarned, the relative interval exists (the control mean is clearly non-zero).
            assert c[ok][quiet].mean() > 0.99, (n, share, what)
    assert judged >= 1


def test_the_rule_warns_where_coverage_falls_short(cells) -> None:
    for (n, share), c in cells.items():
        usable = c["abs_ok"] & c["fieller_ok"]
        if usable.sum() < MIN_UNWARNED:
            assert c["warned"].mean() > 0.5, (n, share)  # mostly no relative interval at all
            continue
        for hit in ("abs_hit", "fieller_hit"):
            if c[hit][usable].mean() < BAND[0]:
                assert c["warned"][usable].mean() > 0.8, (n, share, hit)


def test_fieller_calibrates_better_than_the_delta_method(cells) -> None:
    fieller, delta = [], []
    for c in cells.values():
        both = c["fieller_ok"] & c["delta_ok"]
        if both.sum() >= MIN_UNWARNED:
            fieller.append(abs(c["fieller_hit"][both].mean() - 0.95))
            delta.append(abs(c["delta_hit"][both].mean() - 0.95))
    assert fieller, "no cell where both give intervals"
    assert np.mean(fieller) < np.mean(delta), (np.mean(fieller), np.mean(delta))
    assert max(fieller) <= max(delta)


@pytest.mark.parametrize("sign", [1, -1])
def test_fieller_is_the_set_of_lifts_the_welch_test_does_not_reject(sign: int) -> None:
    """Against a brute-force inversion on a fine grid: the lifts L whose ratio r (1 + L, or
    1 - L for a negative control mean) passes |mb - r ma| <= t * sqrt(vb + r^2 va)."""
    import scipy.stats as sps

    rng = np.random.default_rng(4)
    c = sign * rng.lognormal(1, 0.7, 300)
    t = sign * rng.lognormal(1, 0.7, 280) * 1.15
    a, b = (SampleMean(len(x), x.sum(), (x * x).sum()) for x in (c, t))
    got = fieller_test(a, b)
    va, vb = c.var(ddof=1) / len(c), t.var(ddof=1) / len(t)
    dof = (va + vb) ** 2 / (va**2 / (len(c) - 1) + vb**2 / (len(t) - 1))
    lifts = np.linspace(-1.5, 1.5, 3_000_001)
    r = 1 + lifts if c.mean() > 0 else 1 - lifts
    crit = sps.t.ppf(0.975, dof)
    kept = lifts[np.abs(t.mean() - r * c.mean()) <= crit * np.sqrt(vb + r * r * va)]
    assert got.ci_low == pytest.approx(kept.min(), abs=2e-6)
    assert got.ci_high == pytest.approx(kept.max(), abs=2e-6)
    assert got.estimate == pytest.approx((t.mean() - c.mean()) / abs(c.mean()), rel=1e-12)
    assert got.p_value == pytest.approx(welch_test(a, b, relative=False).p_value, rel=1e-12)
    greater, less = (fieller_test(a, b, alternative=alt) for alt in ("greater", "less"))
    assert greater.ci_high == np.inf and less.ci_low == -np.inf
    assert kept.min() < greater.ci_low < got.estimate < less.ci_high < kept.max()


def test_a_control_mean_indistinguishable_from_zero_has_no_relative_interval() -> None:
    a = SampleMean(30, 3.0, 60.0)  # mean 0.1, sd about 1.4: zero is well inside its CI
    b = SampleMean(30, 30.0, 120.0)
    got = fieller_test(a, b)
    assert got.error is not None and got.error.startswith("UNBOUNDED_RATIO")
    assert welch_test(a, b, relative=True).error is None  # the delta method would print one
