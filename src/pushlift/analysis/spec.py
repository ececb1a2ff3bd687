"""What an experiment analysis is asked to do: the data, the arms, outcomes and covariates."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

OutcomeKind = Literal["mean", "proportion", "ratio"]
Family = Literal["primary", "secondary", "guardrail"]
FAMILIES: tuple[Family, ...] = ("primary", "secondary", "guardrail")
# Always-valid intervals are tightest at this many units in a comparison unless told
# otherwise (GrowthBook's default): `--sequential-tuning`, the pages' `?tuning=`.
SEQUENTIAL_TUNING = 5_000
MAX_TUNING = 10**12


@dataclass(frozen=True)
class Outcome:
    """One outcome per unit (mean or 0/1 proportion), or a ratio of two per-unit sums."""

    name: str
    column: str
    kind: OutcomeKind
    denominator: str | None = None  # ratio outcomes only
    label: str = ""
    note: str = ""  # a caveat shown with the results
    # Its multiplicity family: Holm and BH adjust within each of these, as declared.
    family: Family = "primary"

    @property
    def title(self) -> str:
        return self.label or self.name


@dataclass(frozen=True)
class Covariate:
    """A pre-treatment covariate as one or more numeric regressors (dummies for categories)."""

    name: str
    terms: tuple[tuple[str, str], ...]  # (display name, SQL expression)


@dataclass(frozen=True)
class ExperimentSpec:
    """Everything the analysis needs to know about one randomized experiment."""

    relation: str  # SQL relation with one row per unit
    arm: str  # column holding the arm
    control: str  # the control arm's value
    arms: tuple[str, ...]  # control first
    outcomes: tuple[Outcome, ...]
    covariates: tuple[Covariate, ...] = ()
    segments: tuple[str, ...] = ()  # columns to split heterogeneous effects by
    weights: tuple[float, ...] | None = None  # planned allocation, same order as arms
    title: str = "experiment"
    source: str = ""
    truth: dict[tuple[str, str, str], float] = field(default_factory=dict)
    # truth[(outcome, segment, value)] = true absolute effect (simulations only)
    data_notes: tuple[str, ...] = ()  # said first about the data: rows set aside, assumptions

    @property
    def treatments(self) -> tuple[str, ...]:
        return tuple(a for a in self.arms if a != self.control)
