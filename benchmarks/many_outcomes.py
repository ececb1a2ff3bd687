"""Many outcomes in one experiment: `pushlift analyze experiment` on 300 outcomes, against
statsmodels fitting the same regression adjustment outcome by outcome, in the same run.

Setup: a CSV of N units (default 4,000), two arms, two covariates (age, female) and K
outcomes (default 300; zero-inflated lognormal spend). pushlift runs its whole analysis
as a user would (`analyze experiment --table ... --json`, a fresh process, imports
included): descriptives, effects, Fieller lifts, Lin-adjusted effects, segments, power. The
alternative: pandas reads the CSV and statsmodels fits Lin's interacted regression with HC2
errors for every outcome (the adjusted effects only), in a fresh process, imports included.
Each runs `--repeats` times, taking turns; the fastest is reported with the load average.

Run: .venv/bin/python benchmarks/many_outcomes.py [--units N] [--outcomes K] [--repeats R]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

PUSHLIFT = Path(sys.executable).parent / "pushlift"
STATSMODELS = r"""
import sys, time
started = time.perf_counter()
import numpy as np, pandas as pd, statsmodels.api as sm
df = pd.read_csv(sys.argv[1])
t = (df.arm != "control").to_numpy(float)
x = df[["age", "female"]].to_numpy(float)
xc = x - x.mean(axis=0)
design = np.column_stack([np.ones(len(df)), t, xc, xc * t[:, None]])
for column in df.columns[3:]:
    sm.OLS(df[column].to_numpy(float), design).fit(cov_type="HC2")
print(time.perf_counter() - started)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=4000)
    parser.add_argument("--outcomes", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    n, k = args.units, args.outcomes
    cols = {"arm": rng.choice(["control", "offer"], n), "age": rng.integers(18, 80, n),
            "female": rng.integers(0, 2, n)}  # fmt: skip
    for j in range(k):
        cols[f"m{j}"] = rng.lognormal(1, 1, n) * (rng.random(n) < 0.3)
    with tempfile.TemporaryDirectory() as tmp:
        table = Path(tmp) / "many.csv"
        pd.DataFrame(cols).to_csv(table, index=False)
        command = [str(PUSHLIFT), "analyze", "experiment", "--table", str(table), "--arm", "arm",
                   "--control", "control", "--covariate", "age", "--covariate", "female",
                   "--json"]  # fmt: skip
        for j in range(k):
            command += ["--outcome", f"m{j}"]
        load_before = os.getloadavg()
        best: dict[str, float] = {}
        for _ in range(args.repeats):
            started = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            seconds = time.perf_counter() - started
            best["pushlift"] = min(best.get("pushlift", seconds), seconds)
            done = subprocess.run([sys.executable, "-c", STATSMODELS, str(table)], check=True,
                                  capture_output=True, text=True)  # fmt: skip
            fit = float(done.stdout.strip())
            best["statsmodels"] = min(best.get("statsmodels", fit), fit)
            print(f"pushlift {seconds:.2f} s, statsmodels {fit:.2f} s", file=sys.stderr)
    print(json.dumps({
        "units": n, "outcomes": k, "seconds": best,
        "note": "pushlift: the whole analysis, process start to exit; statsmodels: the adjusted "
                "effects only, from reading the CSV",
        "load_average": [load_before, os.getloadavg()], "cpus": os.cpu_count(),
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
    }, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
