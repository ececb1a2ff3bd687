"""Outcome codes: the stage that decided an event (the first that left no candidate)."""

from __future__ import annotations

(
    NO_MATCH,
    INACTIVE,
    QUIET_HOURS,
    SEGMENT,
    FREQUENCY_CAP,
    SUBSCRIBER_CAP,
    BUDGET,
    DELIVERED,
    HELD_OUT,
    LATE,  # set by the runner: older than events already decided, so stored but not decided
) = range(10)
OUTCOMES = (
    "no_match",
    "inactive",
    "quiet_hours",
    "segment",
    "frequency_cap",
    "subscriber_cap",
    "budget",
    "delivered",
    "held_out",
    "late",
)
