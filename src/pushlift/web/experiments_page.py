"""The live experiments page: each engine experiment look by look, so a running experiment
can be watched. Per look, incremental conversion per notification with the fixed-horizon
and the always-valid interval, and a chart of the estimate and its always-valid band."""

from __future__ import annotations

from typing import Any

from pushlift.analysis.results import to_jsonable
from pushlift.analysis.spec import MAX_TUNING, SEQUENTIAL_TUNING
from pushlift.engine.events import from_us
from pushlift.errors import PushliftError
from pushlift.report.numbers import fmt
from pushlift.report.wording import p_is
from pushlift.web.charts import looks_svg
from pushlift.web.db import Database
from pushlift.web.kpi_pages import KPI_PARTS, NO_ENGINE_DATA

NO_EXPERIMENT = (
    "No experiment with a holdout has notifications yet: give an offer an experiment with a "
    "holdout arm in the engine config (the city simulation has one)."
)


def _tuning(params: dict[str, str]) -> int:
    text = params.get("tuning")
    if text is None:
        return SEQUENTIAL_TUNING
    if not text.isdigit() or not 1 <= int(text) <= MAX_TUNING:
        raise PushliftError(f"tuning must be a whole number of subscribers from 1 to {MAX_TUNING}")
    return int(text)


def _when(us: int) -> str:
    return from_us(us).strftime("%Y-%m-%d %H:%M UTC")


def _experiments(db: Database, tuning: int) -> list[dict[str, Any]]:
    from pushlift.analysis.live_experiments import experiment_looks

    def compute(s: Any) -> list[dict[str, Any]]:
        out = []
        for e in experiment_looks(s.con, tuning=tuning):
            looks = [
                {
                    "until": _when(k.until_us),
                    "subscribers": k.subscribers,
                    "delivered": k.delivered,
                    "held_out": k.held_out,
                    "conversion_delivered": k.conversion_delivered,
                    "conversion_held_out": k.conversion_held_out,
                    "effect": k.fixed.estimate,
                    "ci_low": k.fixed.ci_low,
                    "ci_high": k.fixed.ci_high,
                    "p_value": k.fixed.p_value,
                    "always_valid_low": k.always_valid.ci_low,
                    "always_valid_high": k.always_valid.ci_high,
                    "always_valid_p": k.always_valid.p_value,
                    "no_estimate_reason": k.no_estimate_reason,
                }  # fmt: skip
                for k in e.looks
            ]
            looks = to_jsonable(looks)
            out.append({
                "experiment_id": e.experiment_id, "bucket": e.bucket, "looks": looks,
                "conclusion": _conclusion(looks[-1]) if looks else None,
            })  # fmt: skip
        return out

    return db.cached(f"experiments:{tuning}", db.version(KPI_PARTS), compute)


def _conclusion(last: dict[str, Any]) -> str:
    if last["no_estimate_reason"] is not None:
        return f"As of {last['until']}: no always-valid estimate yet: {last['no_estimate_reason']}."
    low, high = last["always_valid_low"], last["always_valid_high"]
    effect = last["effect"]
    verb = "raised" if effect >= 0 else "lowered"
    head = (
        f"As of {last['until']}, delivery {verb} conversion per notification by "
        f"{fmt(abs(effect), 'pp')} (always-valid 95% interval {fmt(low, 'pp')} to "
        f"{fmt(high, 'pp')}, {p_is(last['always_valid_p'])})"
    )
    if low > 0 or high < 0:
        return head + (
            ": the interval excludes zero, and that holds however often the experiment has "
            "been looked at."
        )
    return head + (
        ": the interval includes zero; keep the experiment running, or accept that an effect "
        "this small cannot be told from none."
    )


def experiments(db: Database, params: dict[str, str]) -> dict[str, Any]:
    """Each engine experiment with a holdout, look by look (per day, or per hour when the
    data span two days or less)."""
    tuning = _tuning(params)
    page: dict[str, Any] = {"title": "Live experiments", "tuning": tuning}
    counts = db.counts()
    if not counts["notifications"] and not counts["events"]:
        return page | {"empty": NO_ENGINE_DATA, "experiments": []}
    found = _experiments(db, tuning)
    return page | {
        "empty": None if found else NO_EXPERIMENT,
        "experiments": found,
        # HTML only (keys starting with '_' stay out of the JSON twin).
        "_charts": [looks_svg(e["looks"], e["bucket"]) for e in found],
    }
