"""The outcome descriptives (per arm: count, mean, sd, min, max, share of zeros, quantiles;
histogram shares on shared bins) against numpy, for more outcomes than share one scan and
with missing values."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from pushlift.analysis.describe import HISTOGRAM_BINS, PER_SCAN, descriptives
from pushlift.analysis.spec import ExperimentSpec, Outcome


def test_descriptives_match_numpy() -> None:
    rng = np.random.default_rng(3)
    n, k = 600, PER_SCAN + 7
    df = pd.DataFrame({"arm": rng.choice(["control", "offer"], n)})
    for j in range(k):
        y = rng.lognormal(0, 1, n) * (rng.random(n) < 0.4)
        df[f"m{j}"] = np.where(rng.random(n) < 0.05, np.nan, y)
    con = duckdb.connect()
    con.register("units", df)
    spec = ExperimentSpec(
        relation="units", arm="arm", control="control", arms=("control", "offer"),
        outcomes=tuple(Outcome(f"m{j}", f"m{j}", "mean") for j in range(k)),
    )  # fmt: skip
    got = descriptives(con, spec)
    rows = {(d["outcome"], d["arm"]): d for d in got.outcome_distribution}
    assert len(rows) == 2 * k
    for j in range(k):
        column = df[f"m{j}"]
        for arm in ("control", "offer"):
            v = column[df.arm == arm].dropna().to_numpy()
            d = rows[(f"m{j}", arm)]
            assert d["n"] == len(v)
            assert d["mean"] == pytest.approx(v.mean(), rel=1e-12)
            assert d["sd"] == pytest.approx(v.std(ddof=1), rel=1e-12)
            assert (d["min"], d["max"]) == (v.min(), v.max())
            assert d["share_zero"] == pytest.approx(np.mean(v == 0), rel=1e-12)
            for name, q in (("p25", 25), ("median", 50), ("p75", 75), ("p90", 90), ("p99", 99)):
                assert d[name] == pytest.approx(np.percentile(v, q), rel=1e-12), name
        pooled = column.dropna().to_numpy()
        lo, hi = pooled.min(), np.percentile(pooled, 99)
        edges = got.histogram_edges[f"m{j}"]
        assert len(edges) == HISTOGRAM_BINS + 1 and edges[0] == lo
        assert edges[-1] == pytest.approx(hi, rel=1e-12)
        width = (hi - lo) / HISTOGRAM_BINS
        for arm in ("control", "offer"):
            v = column[df.arm == arm].dropna().to_numpy()
            bins = np.minimum(np.floor((v - lo) / width).astype(int), HISTOGRAM_BINS - 1)
            want = np.bincount(bins, minlength=HISTOGRAM_BINS) / len(v)
            np.testing.assert_allclose(got.histograms[f"m{j}"][arm], want, rtol=1e-12)
