"""The customer-segment step with scikit-learn's thread pools as they come and pinned to one
thread (what `analysis/clusters.py` does), in the same run, on the same data.

Setup: N units (default 1,000,000) with three pre-treatment covariates (age, female,
high loyalty) and a skewed outcome, in DuckDB; `segment_customers` fits k-means for k = 2..8
on a 20,000-row sample, scores silhouettes on 3,000 and labels every unit in SQL. Each
variant runs in a fresh process (thread pools are set up once per process), `--repeats`
times, the variants taking turns; the fastest of each is reported with the load average.

Run: .venv/bin/python benchmarks/segment_threads.py [--units N] [--repeats R]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

CHILD = r"""
import sys, time
import duckdb, numpy as np
from contextlib import nullcontext
import pushlift.analysis.clusters as clusters
from pushlift.analysis.spec import Covariate, ExperimentSpec, Outcome

n, pinned = int(sys.argv[1]), sys.argv[2] == "pinned"
if not pinned:  # undo the pinning: the pools as scikit-learn sets them up
    clusters.threadpool_limits = lambda limits: nullcontext()
rng = np.random.default_rng(1)
con = duckdb.connect()
con.execute(
    "CREATE TABLE units AS SELECT CASE WHEN random() < 0.5 THEN 'control' ELSE 'message' END "
    "AS arm, 18 + (random() * 60)::INT AS age, (random() < 0.76)::INT AS female, "
    f"(random() < 0.64)::INT AS high_loyalty, random() * random() * 100 AS y FROM range({n})"
)
spec = ExperimentSpec(
    relation="units", arm="arm", control="control", arms=("control", "message"),
    outcomes=(Outcome("y", "y", "mean"),),
    covariates=tuple(Covariate(c, ((c, c),)) for c in ("age", "female", "high_loyalty")),
)
started = time.perf_counter()
fitted = clusters.segment_customers(con, spec)
con.execute(f"SELECT _cluster, count(*) FROM {fitted[1]} AS _c GROUP BY 1").fetchall()
print(time.perf_counter() - started)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    load_before = os.getloadavg()
    best: dict[str, float] = {}
    for _ in range(args.repeats):
        for variant in ("default", "pinned"):
            out = subprocess.run(
                [sys.executable, "-c", CHILD, str(args.units), variant],
                check=True, capture_output=True, text=True,
            )  # fmt: skip
            seconds = float(out.stdout.strip().splitlines()[-1])
            best[variant] = min(best.get(variant, seconds), seconds)
            print(f"{variant}: {seconds:.2f} s", file=sys.stderr)
    result = {
        "units": args.units,
        "seconds": best,
        "default_over_pinned": best["default"] / best["pinned"],
        "load_average": [load_before, os.getloadavg()],
        "cpus": os.cpu_count(),
        "environment": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")},
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
