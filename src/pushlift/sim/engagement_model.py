"""The engagement simulator's model and its closed-form truth (see `sim.engagement`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from pushlift.sim.effect_terms import parse_effect_terms

TIERS = ("occasional", "regular", "frequent")
SPEND_LEVELS = ("low_spend", "high_spend")
HOMES = ("store", "online")
EFFECT_KEYS = ("base", *TIERS, *SPEND_LEVELS, *HOMES)
WINDOWS = (7, 30)
OUTCOMES = tuple(f"{kind}_{w}d" for kind in ("purchased", "net_spend") for w in WINDOWS)
LEDGER_START = np.datetime64("2023-01-01")
N_DAYS = 731  # 2023-01-01 .. 2024-12-31
CONTACT_DAYS = (365 + 3, 365 + 335)  # 2024-01-04 .. 2024-12-01, so day + 30 stays in 2024
OPEN_SECONDS = (8 * 3600, 17 * 3600 + 1800)


@dataclass(frozen=True)
class EngagementEffect:
    """Probability that responding causes one extra transaction within 30 days (additive)."""

    terms: dict[str, float] = field(
        default_factory=lambda: {"base": 0.08, "occasional": 0.04, "frequent": -0.04}
    )

    def q(self, tier: int, high_spend: bool, online: bool) -> float:
        t = self.terms
        return (
            t.get("base", 0.0)
            + t.get(TIERS[tier], 0.0)
            + t.get(SPEND_LEVELS[int(high_spend)], 0.0)
            + t.get(HOMES[int(online)], 0.0)
        )

    def describe(self) -> str:
        return ",".join(f"{k}={v:g}" for k, v in self.terms.items())


def parse_effect(spec: str) -> EngagementEffect:
    """'0.1' (same for everyone) or 'base=0.08,occasional=0.04,...' into an effect."""
    return EngagementEffect(parse_effect_terms(spec, EFFECT_KEYS))


@dataclass(frozen=True)
class EngagementModel:
    """Population, behaviour and export-messiness parameters."""

    tier_shares: tuple[float, float, float] = (0.55, 0.33, 0.12)
    tier_rate_30d: tuple[float, float, float] = (0.04, 0.16, 0.7)  # transactions / 30 days
    high_spend_share: float = 0.4
    median_line: tuple[float, float] = (40.0, 90.0)  # $ per line, low and high spenders
    line_sigma: float = 0.6
    online_home_share: float = 0.2
    online_share_store_home: float = 0.35  # store customers' transactions made online
    other_store_share: float = 0.1  # store transactions in a store other than home
    n_stores: int = 40
    junk_phone_share: float = 0.55  # customers without a phone on file
    contact_rate: tuple[float, float, float] = (0.3, 0.5, 0.7)
    online_contact_factor: float = 0.6
    response_logit: float = -1.7
    response_logit_tier: tuple[float, float, float] = (0.0, 0.7, 1.4)
    response_logit_high_spend: float = 0.5
    response_logit_online: float = -0.6
    followup_rate: tuple[float, float, float] = (1.0, 2.5, 4.0)  # further conversations
    followup_response_p: tuple[float, float] = (0.1, 0.6)  # after no response, after one
    lines_p: float = 0.62  # line items per transaction: Geometric(p), mean 1/p
    zero_line_share: float = 0.03  # extra lines at $0
    whole_dollar_share: float = 0.82
    return_rate: tuple[float, float] = (0.08, 0.2)  # per positive line: store, online
    iso_date_share: tuple[float, float] = (0.24, 0.48)  # ISO Order_Date: store, online
    duplicate_share: float = 0.06  # lines written twice
    junk_missing_amount_share: float = 0.0025  # blank amounts, junk-phone lines only
    sentinel_variant_share: float = 2e-5  # "1/1/2000 0:00" instead of "1/1/00 00:00"
    extra_within_7d: float = 0.6  # P(D <= 7) for the caused transaction
    effect: EngagementEffect = field(default_factory=EngagementEffect)

    def cells(self) -> list[Cell]:
        """Every (tier, spend level, home) cell with its share and probabilities."""
        out = []
        for tier in range(3):
            for high in (False, True):
                for online in (False, True):
                    share = (
                        self.tier_shares[tier]
                        * (self.high_spend_share if high else 1 - self.high_spend_share)
                        * (self.online_home_share if online else 1 - self.online_home_share)
                    )
                    q = self.effect.q(tier, high, online)
                    if not 0 <= q <= 1:
                        raise ValueError(
                            f"--effect gives a probability of {q:.3f} for {TIERS[tier]}, "
                            f"{SPEND_LEVELS[int(high)]}, {HOMES[int(online)]} customers; "
                            "it must stay within [0, 1]"
                        )
                    out.append(Cell(tier, high, online, share, q, self))
        return out

    def contact_p(self, tier: int, online: bool) -> float:
        return self.contact_rate[tier] * (self.online_contact_factor if online else 1.0)

    def response_p(self, tier: int, high: bool, online: bool) -> float:
        z = (
            self.response_logit
            + self.response_logit_tier[tier]
            + self.response_logit_high_spend * high
            + self.response_logit_online * online
        )
        return 1 / (1 + math.exp(-z))

    def online_share(self, online_home: bool) -> float:
        return 1.0 if online_home else self.online_share_store_home


@dataclass(frozen=True)
class Cell:
    tier: int
    high_spend: bool
    online: bool
    share: float  # of all customers
    q: float
    model: EngagementModel

    @property
    def weight(self) -> float:
        """Share of all customers who are contacted and in this cell (up to a constant)."""
        return self.share * self.model.contact_p(self.tier, self.online)

    @property
    def response_p(self) -> float:
        return self.model.response_p(self.tier, self.high_spend, self.online)

    def net_basket(self) -> float:
        """Expected net amount of one transaction (lines, zero lines and returns)."""
        m = self.model
        line = math.exp(math.log(m.median_line[int(self.high_spend)]) + m.line_sigma**2 / 2)
        gross = line * (1 + (1 / m.lines_p - 1) * (1 - m.zero_line_share))
        pi = m.online_share(self.online)
        return gross * (1 - (pi * m.return_rate[1] + (1 - pi) * m.return_rate[0]))

    def caused_within(self, days: int) -> float:
        """P(the caused transaction falls within `days` of contact | it happens)."""
        p7 = self.model.extra_within_7d
        return p7 * min(days, 7) / 7 + (1 - p7) * max(0, min(days, 30) - 7) / 23

    def y0(self, outcome: str) -> float:
        kind, days = _split(outcome)
        mean_txns = self.model.tier_rate_30d[self.tier] / 30 * days
        return 1 - math.exp(-mean_txns) if kind == "purchased" else mean_txns * self.net_basket()

    def tau(self, outcome: str) -> float:
        kind, days = _split(outcome)
        caused = self.q * self.caused_within(days)
        if kind == "purchased":
            return caused * math.exp(-self.model.tier_rate_30d[self.tier] / 30 * days)
        return caused * self.net_basket()


def _split(outcome: str) -> tuple[str, int]:
    kind, _, days = outcome.rpartition("_")
    return kind, int(days.removesuffix("d"))


def _weighted(weights: list[float], values: list[float]) -> float:
    total = sum(weights)
    return sum(w * v for w, v in zip(weights, values, strict=True)) / total


def expected_truth(model: EngagementModel) -> dict[str, dict[str, float]]:
    """Closed-form population ATE, ATT, group means and naive difference per outcome."""
    cells = model.cells()
    w = [c.weight for c in cells]
    w_resp = [c.weight * c.response_p for c in cells]
    w_non = [c.weight * (1 - c.response_p) for c in cells]
    out = {}
    for o in OUTCOMES:
        y0 = [c.y0(o) for c in cells]
        tau = [c.tau(o) for c in cells]
        mean_resp = _weighted(w_resp, [a + t for a, t in zip(y0, tau, strict=True)])
        mean_non = _weighted(w_non, y0)
        out[o] = {
            "expected_ate": _weighted(w, tau),
            "expected_att": _weighted(w_resp, tau),
            "expected_mean_responders": mean_resp,
            "expected_mean_non_responders": mean_non,
            "expected_naive_difference": mean_resp - mean_non,
        }
    return out


def expected_by_segment(model: EngagementModel) -> dict[str, dict[str, dict[str, float]]]:
    """Expected ATE and ATT per outcome within each tier, spend level and home."""
    cells = model.cells()
    groups: dict[str, list[Cell]] = {}
    for c in cells:
        for name in (TIERS[c.tier], SPEND_LEVELS[int(c.high_spend)], HOMES[int(c.online)]):
            groups.setdefault(name, []).append(c)
    return {
        name: {
            o: {
                "expected_ate": _weighted([c.weight for c in m], [c.tau(o) for c in m]),
                "expected_att": _weighted(
                    [c.weight * c.response_p for c in m], [c.tau(o) for c in m]
                ),
            }
            for o in OUTCOMES
        }
        for name, m in groups.items()
    }
