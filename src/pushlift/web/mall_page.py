"""The mall experiment page: effects with intervals, overall and by segment."""

from __future__ import annotations

from typing import Any

from pushlift.analysis.results import ExperimentResult, to_jsonable
from pushlift.analysis.spec import SEQUENTIAL_TUNING
from pushlift.errors import PushliftError
from pushlift.store import Store
from pushlift.web.db import Database

MALL_PARTS = ("mall", "experiments")
NO_MALL = (
    "No mall experiment in this store yet: run `pushlift simulate mall` or "
    "`pushlift import mall consumer.csv purchase.csv`."
)

# An outcome's kind -> how its means and its effects are written (see format.fmt).
UNITS = {
    "proportion": ("share", "pp"),
    "mean": ("dollars", "dollars"),
    "ratio": ("dollars", "dollars"),
}


def _effects(r: ExperimentResult) -> list[dict[str, Any]]:
    rows = []
    for o in r.outcomes:
        means = {a.arm: a.mean for a in o.arms}
        mean_unit, effect_unit = UNITS.get(o.kind, ("ratio", "ratio"))
        for c in o.comparisons:
            adj = c.adjusted.effect if c.adjusted else None
            seq = c.sequential.absolute if c.sequential else None
            rows.append({
                "outcome": o.outcome, "title": o.title, "arm": c.arm, "control": c.control,
                "mean_unit": mean_unit, "effect_unit": effect_unit,
                "control_mean": means.get(c.control), "arm_mean": means.get(c.arm),
                "effect": c.absolute.estimate, "ci_low": c.absolute.ci_low,
                "ci_high": c.absolute.ci_high, "p_value": c.absolute.p_value, "p_holm": c.p_holm,
                "relative": c.relative.estimate, "relative_ci_low": c.relative.ci_low,
                "relative_ci_high": c.relative.ci_high,
                "adjusted_effect": adj.estimate if adj else None,
                "adjusted_ci_low": adj.ci_low if adj else None,
                "adjusted_ci_high": adj.ci_high if adj else None,
                "always_valid_low": seq.ci_low if seq else None,
                "always_valid_high": seq.ci_high if seq else None,
                "no_estimate_reason": c.no_estimate_reason,
                "true_effect": c.true_effect,
            })  # fmt: skip
    return rows


def _subgroups(r: ExperimentResult) -> list[dict[str, Any]]:
    kinds = {o.outcome: o.kind for o in r.outcomes}
    return [
        {
            "outcome": s.outcome,
            "arm": s.arm,
            "segment": s.segment,
            "value": s.value,
            "effect_unit": UNITS.get(kinds.get(s.outcome, ""), ("ratio", "ratio"))[1],
            "n_control": s.n_control,
            "n_treatment": s.n_treatment,
            "effect": s.effect.estimate,
            "ci_low": s.effect.ci_low,
            "ci_high": s.effect.ci_high,
            "p_holm": s.p_holm,
            "true_effect": s.true_effect,
        }  # fmt: skip
        for s in r.subgroups
    ]


def _analyse(s: Store, experiment_id: str) -> dict[str, Any]:
    from pushlift.analysis.experiment import analyze_experiment
    from pushlift.analysis.mall import mall_spec
    from pushlift.report.charts import forest_plot
    from pushlift.report.wording import conclusions

    r = analyze_experiment(s.con, mall_spec(s, experiment_id), sequential=SEQUENTIAL_TUNING)
    first = r.outcomes[0].outcome
    return {
        "experiment_id": experiment_id,
        "source": r.source,
        "n_units": r.descriptives.n_units,
        "control": r.control,
        "arms": [
            {"arm": a, "units": n}
            for a, n in zip(r.sample_ratio.arms, r.sample_ratio.counts, strict=True)
        ],
        "sample_ratio_p": r.sample_ratio.p_value,
        "effects": to_jsonable(_effects(r)),
        "subgroups": to_jsonable(_subgroups(r)),
        "tuning": SEQUENTIAL_TUNING,
        "conclusions": conclusions(r),
        # Not a number: only the HTML page shows it (keys starting with '_' stay out of JSON).
        "_forest": forest_plot(r, first, list(r.subgroups), "by segment") or "",
    }


def mall(db: Database, params: dict[str, str]) -> dict[str, Any]:
    """The mall experiment's analysis (cached until the mall data change)."""
    page: dict[str, Any] = {"title": "Mall experiment"}
    with db.reader() as s:
        ids = [
            r[0]
            for r in s.con.execute(
                "SELECT DISTINCT experiment_id FROM mall_outcome ORDER BY 1"
            ).fetchall()
        ]
    if not ids:
        return page | {"empty": NO_MALL, "experiments": []}
    chosen = params.get("experiment") or ids[0]
    if chosen not in ids:
        raise PushliftError(f"no mall experiment {chosen!r}; the store has {', '.join(ids)}")
    version = db.version(MALL_PARTS)
    try:
        result = db.cached(f"mall:{chosen}", version, lambda s: _analyse(s, chosen))
    except PushliftError as e:  # e.g. imported from a purchase file listing only buyers
        return page | {"empty": str(e), "experiments": ids}
    return page | {"empty": None, "experiments": ids} | result
