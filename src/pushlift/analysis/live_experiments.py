"""Each engine experiment as it runs: what delivery does to conversion, look by look.

At the end of each UTC day (or hour) with notifications, everything notified before it is
compared, delivered against held out inside the experiment, per notification with the
subscriber as the unit (as the KPI pages do). Each look has the fixed-horizon interval and
the always-valid one (`analyze experiment --sequential`'s confidence sequence): someone who
watches a running experiment and stops when an interval excludes zero is protected by the
second, not by the first (tests/analysis/test_sequential_peeking.py shows both).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from pushlift.analysis import kpi_queries as q
from pushlift.analysis.attribution import DEFAULT_WINDOW_HOURS, attribute
from pushlift.analysis.kpi_effects import experiment_effect, ratio_statistic
from pushlift.analysis.spec import SEQUENTIAL_TUNING
from pushlift.analysis.stats import EffectEstimate, as_reported, no_estimate_reason, sequential_test


@dataclass(frozen=True)
class Look:
    """One experiment, everything notified before `until_us` (epoch microseconds)."""

    until_us: int
    subscribers: int  # in both arms
    delivered: int  # notifications
    held_out: int
    conversion_delivered: float
    conversion_held_out: float
    fixed: EffectEstimate  # incremental conversion per notification, fixed horizon
    always_valid: EffectEstimate
    no_estimate_reason: str | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        for name in ("fixed", "always_valid"):
            object.__setattr__(self, name, as_reported(getattr(self, name)))
        reason = no_estimate_reason(self.always_valid.error)
        object.__setattr__(self, "no_estimate_reason", reason)


@dataclass(frozen=True)
class ExperimentLooks:
    experiment_id: str
    tuning: int
    bucket: str  # "day" or "hour"
    looks: tuple[Look, ...]


def experiment_looks(
    con: duckdb.DuckDBPyConnection,
    *,
    tuning: int = SEQUENTIAL_TUNING,
    bucket: str | None = None,
    window_hours: float = DEFAULT_WINDOW_HOURS,
) -> list[ExperimentLooks]:
    """Every experiment with notifications, look by look. `bucket` None: per day, or per
    hour for an experiment whose notifications span two days or less."""
    attribute(con, window_hours)
    spans = con.execute(
        "SELECT experiment_id, max(epoch_us(event_time)) - min(epoch_us(event_time)) "
        "FROM attributed_notification WHERE experiment_id <> '' GROUP BY 1 ORDER BY 1"
    ).fetchall()
    out = []
    for experiment, span in spans:
        size = bucket or ("hour" if span <= 2 * q.BUCKET_US["day"] else "day")
        looks = []
        for until, cells in q.cumulative_arm_sums(con, experiment, size):
            arms = {c.delivered: c for c in cells}
            if False in arms and True in arms:  # else nothing to compare yet
                looks.append(_look(until, arms[False], arms[True], tuning))
        out.append(ExperimentLooks(experiment, tuning, size, tuple(looks)))
    return out


def _look(until: int, held: q.ArmSums, sent: q.ArmSums, tuning: int) -> Look:
    always_valid = sequential_test(
        ratio_statistic(held, "conversion"), ratio_statistic(sent, "conversion"),
        n_star=tuning, relative=False,
    )  # fmt: skip
    return Look(
        until,
        held.subscribers + sent.subscribers,
        sent.notifications,
        held.notifications,
        sent.conversions / sent.notifications,
        held.conversions / held.notifications,
        experiment_effect(held, sent, "conversion"),
        always_valid,
    )
