"""Outcomes declared primary (--outcome), secondary (--secondary) or guardrail
(--guardrail): Holm and BH adjust within each family, as statsmodels' multipletests gives
them per family; the family is in the JSON, the text and the report; misuse is one
message."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests
from typer.testing import CliRunner

from pushlift.cli import app

FAMILIES = {"y0": "primary", "y1": "primary", "y2": "secondary", "y3": "secondary",
            "y4": "guardrail"}  # fmt: skip


@pytest.fixture(scope="module")
def trial(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(2)
    n = 2000
    arm = rng.choice(["control", "offer"], n)
    data = {"arm": arm}
    for j, lift in enumerate([0.1, 0.05, 0.0, 0.08, 0.0]):
        data[f"y{j}"] = rng.lognormal(1, 0.8, n) * (1 + lift * (arm == "offer"))
    path = tmp_path_factory.mktemp("f") / "trial.csv"
    pd.DataFrame(data).to_csv(path, index=False)
    return path


def analyse(path: Path, *extra: str) -> tuple[int, str]:
    args = ["analyze", "experiment", "--table", str(path), "--arm", "arm", "--control",
            "control", "--outcome", "y0", "--outcome", "y1", "--secondary", "y2",
            "--secondary", "y3", "--guardrail", "y4", *extra]  # fmt: skip
    done = CliRunner().invoke(app, args)
    return done.exit_code, done.output


def test_holm_and_bh_adjust_within_each_family(trial: Path) -> None:
    code, out = analyse(trial, "--json")
    assert code == 0, out
    outcomes = json.loads(out)["outcomes"]
    assert {o["outcome"]: o["family"] for o in outcomes} == FAMILIES
    for family in ("primary", "secondary", "guardrail"):
        members = [o["comparisons"][0] for o in outcomes if o["family"] == family]
        raw = [c["absolute"]["p_value"] for c in members]
        holm = multipletests(raw, method="holm")[1]
        bh = multipletests(raw, method="fdr_bh")[1]
        for c, h, b in zip(members, holm, bh, strict=True):
            assert c["p_holm"] == pytest.approx(h, rel=1e-12), (family, c["outcome"])
            assert c["p_bh"] == pytest.approx(b, rel=1e-12), (family, c["outcome"])
    # One family of all five would have adjusted more.
    everything = multipletests([o["comparisons"][0]["absolute"]["p_value"] for o in outcomes],
                               method="holm")[1]  # fmt: skip
    assert outcomes[0]["comparisons"][0]["p_holm"] < everything[0]


def test_text_and_report_name_the_families(trial: Path, tmp_path: Path) -> None:
    report = tmp_path / "r.html"
    code, out = analyse(trial, "--report", str(report))
    assert code == 0, out
    text = " ".join(out.split())
    assert "Holm-adjusted within the secondary outcomes" in text
    assert "Guardrail y4: 'offer'" in text
    html = report.read_text()
    assert "adjust within each declared family (primary, secondary, guardrail)" in html


def test_misuse_is_one_message(trial: Path, tmp_path: Path) -> None:
    done = CliRunner().invoke(app, ["analyze", "experiment", "--table", str(trial), "--arm",
                                    "arm", "--control", "control", "--outcome", "y0",
                                    "--secondary", "y0"])  # fmt: skip
    assert done.exit_code == 2 and "already given with --outcome" in done.output
    done = CliRunner().invoke(app, ["analyze", "experiment", "--db", str(tmp_path / "x.duckdb"),
                                    "--secondary", "y0"])  # fmt: skip
    assert done.exit_code == 2 and "--secondary and --guardrail name columns of a --table" in (
        done.output
    )
