"""A synthetic retailer's CRM exports with a known effect of responding to a message.

`pushlift simulate engagement` writes `sales.csv` and `outbound.csv` in the format of
`../shared/data/mercaux/` (same columns, same messiness) and `truth.json`.

Model (every parameter is a field of `EngagementModel`):

* A customer is one phone. Traits: frequency tier (occasional, regular, frequent: a
  transaction rate per 30 days), spend level (low, high: median line amount), home
  location (a store, or online only). A share of customers have no phone on file: they
  all carry one junk phone value, are never contacted, and have one customer id each.
  A customer with a phone appears in the ledger under 1 + Poisson(1) customer ids.
* Transactions: a Poisson process per customer over 2023-01-01..2024-12-31, one order
  date per transaction (00:00), Geometric(0.62) line items (at least one); amounts
  log-normal by spend level; some extra lines are $0. Each positive line is returned
  with a probability depending on the channel (online or store): the return is one more
  line with the negative amount, the same order date, transaction and location, and the return date.
* Contact: customers with a phone are contacted with a probability rising with the tier
  (lower if online only), once, on a day of 2024-01-04..2024-12-01 during opening hours
  (the *index conversation*). Some get follow-up conversations more than 30 days later;
  they have no effect on purchases.
* Response (`has_response` of the index conversation) is more likely for frequent,
  high-spend, store customers, so responders would buy more even without responding.
* Effect: responding causes, with probability q(cell) (`--effect`), one extra
  transaction D days after contact, P(D <= 7) = 0.6, D <= 30, otherwise drawn like any
  other transaction of that customer (lines, amounts, returns).

Both potential outcomes are simulated with common random numbers: Y(0) from the baseline
transactions only, Y(1) adds the extra transaction when it happens; the files show Y(1)
for responders and Y(0) for the others.

Outcomes, per contacted customer and W in (7, 30): the window is (contact time, contact
time + W days], i.e. order dates from the day after contact to W days after it.
* `purchased_{W}d`: 1 if any transaction has its order date in the window;
* `net_spend_{W}d`: sum of the amounts of all distinct lines (exact duplicate lines
  dropped) of those transactions, return lines included (netted by order date).

`truth.json` gives, per outcome: `sample_ate` (mean of Y(1) - Y(0) over contacted
customers), `sample_att` (over responders), `expected_ate` / `expected_att` (closed-form
expectation over the population of contacted customers, from the model; it ignores the
rounding of amounts and the $1 nudges that keep line items of one transaction distinct),
the naive difference in means responders minus non-responders (sample and expected), and
expected ATE/ATT by segment. The naive
difference exceeds the ATT: responders are selected towards frequent buyers.

To analyse the files at the customer level: one unit per `phone_encoded` other than
the junk phone; the index contact is the phone's earliest `date_of_communication`
and its `has_response`; pre-contact traits come from lines ordered before the contact.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from pushlift.sim.engagement_model import (
    CONTACT_DAYS,
    N_DAYS,
    OPEN_SECONDS,
    OUTCOMES,
    WINDOWS,
    EngagementEffect,
    EngagementModel,
    expected_by_segment,
    expected_truth,
    parse_effect,
)

__all__ = ["EngagementData", "EngagementEffect", "EngagementModel", "parse_effect", "simulate"]

FIRST_CONVERSATION_ID = 1_100_000


@dataclass(frozen=True)
class EngagementData:
    """Export rows as typed columns, plus each customer's traits and potential outcomes."""

    sales: dict[str, np.ndarray]  # one entry per exported line, duplicates included
    outbound: dict[str, np.ndarray]  # one entry per conversation, in time order
    customers: dict[str, np.ndarray]  # traits, contact, response, y0_*/y1_* per outcome
    store_codes: np.ndarray  # location code per store index
    junk_phone: int
    seed: int
    model: EngagementModel


def simulate(n_customers: int, seed: int, model: EngagementModel) -> EngagementData:
    """Draw customers, transactions, contacts and both potential outcomes (vectorized).

    Every draw is made for every customer or transaction whatever the effect, so two
    runs with the same seed and different effects differ only through the effect.
    """
    if n_customers < 10:
        raise ValueError("--customers must be at least 10")
    m = model
    cells = m.cells()  # validates the effect before any work
    rng = np.random.default_rng(seed)
    n = n_customers
    cust = _customers(rng, n, m)
    q_table = np.zeros((3, 2, 2))
    for c in cells:
        q_table[c.tier, int(c.high_spend), int(c.online)] = c.q
    tier, high, online = cust["tier"], cust["high_spend"], cust["online"]
    q = q_table[tier, high.astype(int), online.astype(int)]
    caused = cust["contacted"] & (rng.random(n) < q)
    delay = np.where(
        rng.random(n) < m.extra_within_7d, rng.integers(1, 8, n), rng.integers(8, 31, n)
    )

    # Transactions: the baseline process, then one candidate caused transaction per
    # contacted customer (kind 1), drawn for all of them for common random numbers.
    rate = np.asarray(m.tier_rate_30d)[tier] / 30
    k = rng.poisson(rate * N_DAYS)
    contacted_idx = np.flatnonzero(cust["contacted"])
    t_cust = np.concatenate([np.repeat(np.arange(n), k), contacted_idx])
    t_day = np.concatenate(
        [
            rng.integers(0, N_DAYS, int(k.sum())),
            cust["contact_day"][contacted_idx] + delay[contacted_idx],
        ]
    )
    t_caused_kind = np.arange(t_cust.size) >= k.sum()
    t_real = ~t_caused_kind | caused[t_cust]  # happens under response
    t_export = ~t_caused_kind | (caused[t_cust] & cust["responded"][t_cust])
    txn, lines = _transactions(rng, t_cust, t_day, cust, m)

    # Potential outcomes of contacted customers, from transactions in each window.
    net_by_txn = np.bincount(lines["txn"], weights=lines["net_cents"], minlength=t_cust.size)
    after = t_day - cust["contact_day"][t_cust]
    for w in WINDOWS:
        in_window = cust["contacted"][t_cust] & (after >= 1) & (after <= w)
        base = in_window & ~t_caused_kind
        extra = in_window & t_caused_kind & t_real
        bought0 = np.bincount(t_cust[base], minlength=n) > 0
        bought_extra = np.bincount(t_cust[extra], minlength=n) > 0
        spend0 = np.bincount(t_cust[base], weights=net_by_txn[base], minlength=n) / 100
        spend_extra = np.bincount(t_cust[extra], weights=net_by_txn[extra], minlength=n) / 100
        cust[f"y0_purchased_{w}d"] = bought0.astype(float)
        cust[f"y1_purchased_{w}d"] = (bought0 | bought_extra).astype(float)
        cust[f"y0_net_spend_{w}d"] = spend0
        cust[f"y1_net_spend_{w}d"] = spend0 + spend_extra
    sales = _sales_lines(rng, txn, lines, t_export, cust, m)
    outbound = _conversations(rng, cust, m)
    return EngagementData(
        sales=sales,
        outbound=outbound,
        customers=cust,
        store_codes=hex8_codes(np.arange(m.n_stores), seed * 7919 + 13),
        junk_phone=int(cust["phone"].max()),
        seed=seed,
        model=m,
    )


def _store_popularity(m: EngagementModel) -> np.ndarray:
    pop = 1.0 / np.arange(1, m.n_stores + 1) ** 0.8
    return pop / pop.sum()


def _customers(rng: np.random.Generator, n: int, m: EngagementModel) -> dict[str, np.ndarray]:
    tier = rng.choice(3, n, p=np.asarray(m.tier_shares) / sum(m.tier_shares))
    high = rng.random(n) < m.high_spend_share
    online = rng.random(n) < m.online_home_share
    home = rng.choice(m.n_stores, n, p=_store_popularity(m))
    has_phone = rng.random(n) >= m.junk_phone_share
    contact_p = np.asarray(m.contact_rate)[tier] * np.where(online, m.online_contact_factor, 1)
    contacted = has_phone & (rng.random(n) < contact_p)
    logit = (
        m.response_logit
        + np.asarray(m.response_logit_tier)[tier]
        + m.response_logit_high_spend * high
        + m.response_logit_online * online
    )
    responded = contacted & (rng.random(n) < 1 / (1 + np.exp(-logit)))
    contact_day = rng.integers(CONTACT_DAYS[0], CONTACT_DAYS[1] + 1, n)
    contact_second = rng.integers(OPEN_SECONDS[0], OPEN_SECONDS[1], n)
    # Phones 1..P in random order; the junk value (P + 1) for customers without one.
    n_phones = int(has_phone.sum())
    phone = np.full(n, n_phones + 1, dtype=np.int64)
    phone[has_phone] = rng.permutation(n_phones) + 1
    n_ids = np.where(has_phone, 1 + rng.poisson(1.0, n), 1)
    return {
        "phone": phone,
        "tier": tier,
        "high_spend": high,
        "online": online,
        "home_store": home,
        "has_phone": has_phone,
        "contacted": contacted,
        "responded": responded,
        "contact_day": contact_day,
        "contact_second": contact_second,
        "n_ids": n_ids,
    }


def _transactions(
    rng: np.random.Generator,
    t_cust: np.ndarray,
    t_day: np.ndarray,
    cust: dict[str, np.ndarray],
    m: EngagementModel,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Channel, store, date format and line items (amounts, returns) per transaction."""
    n_txn = t_cust.size
    t_online = cust["online"][t_cust] | (rng.random(n_txn) < m.online_share_store_home)
    elsewhere = rng.random(n_txn) < m.other_store_share
    other_store = rng.choice(m.n_stores, n_txn, p=_store_popularity(m))
    t_store = np.where(elsewhere, other_store, cust["home_store"][t_cust])
    t_iso = rng.random(n_txn) < np.where(t_online, m.iso_date_share[1], m.iso_date_share[0])
    t_id_pick = (rng.random(n_txn) * cust["n_ids"][t_cust]).astype(np.int64)

    n_lines = rng.geometric(m.lines_p, n_txn)
    l_txn = np.repeat(np.arange(n_txn), n_lines)
    first = np.ones(l_txn.size, dtype=bool)
    first[1:] = l_txn[1:] != l_txn[:-1]
    high = cust["high_spend"][t_cust[l_txn]]
    dollars = rng.lognormal(np.log(np.asarray(m.median_line))[high.astype(int)], m.line_sigma)
    whole = rng.random(l_txn.size) < m.whole_dollar_share
    cents = np.where(whole, np.round(dollars) * 100, np.round(dollars * 20) * 5)
    cents = np.maximum(cents, 100).astype(np.int64)
    cents[~first & (rng.random(l_txn.size) < m.zero_line_share)] = 0
    cents = _distinct_within(l_txn, cents)
    return_p = np.where(t_online[l_txn], m.return_rate[1], m.return_rate[0])
    returned = (cents > 0) & (rng.random(l_txn.size) < return_p)
    return_delay = 1 + rng.poisson(11, l_txn.size)
    txn = {
        "cust": t_cust,
        "day": t_day,
        "online": t_online,
        "store": t_store,
        "iso": t_iso,
        "id_pick": t_id_pick,
    }
    lines = {
        "txn": l_txn,
        "cents": cents,
        "returned": returned,
        "return_day": t_day[l_txn] + return_delay,
        "net_cents": np.where(returned, 0, cents),
    }
    return txn, lines


def _distinct_within(group: np.ndarray, cents: np.ndarray) -> np.ndarray:
    """Raise tied amounts within a transaction by $1 until all differ.

    Genuine line items must never be exact duplicates, or dropping duplicate lines (an
    export fault) would also drop real purchases.
    """
    cents = cents.copy()
    multi = np.flatnonzero(np.bincount(group)[group] > 1)  # single lines cannot tie
    while True:
        key = group[multi] * np.int64(2**24) + cents[multi]  # cents stay far below 2**24
        order = np.argsort(key, kind="stable")
        sorted_key = key[order]
        tie = np.zeros(sorted_key.size, dtype=bool)
        tie[1:] = sorted_key[1:] == sorted_key[:-1]
        if not tie.any():
            return cents
        cents[multi[order[tie]]] += 100


def _sales_lines(
    rng: np.random.Generator,
    txn: dict[str, np.ndarray],
    lines: dict[str, np.ndarray],
    t_export: np.ndarray,
    cust: dict[str, np.ndarray],
    m: EngagementModel,
) -> dict[str, np.ndarray]:
    """The ledger as exported: sale lines, return lines, blanks, duplicates, row order."""
    n_lines = lines["txn"].size
    # Messiness is drawn for every line (sale and return) before filtering, so it does
    # not depend on the effect.
    missing = rng.random(2 * n_lines) < m.junk_missing_amount_share
    variant = rng.random(2 * n_lines) < m.sentinel_variant_share
    copies = 1 + (rng.random(2 * n_lines) < m.duplicate_share)
    is_sale = t_export[lines["txn"]]
    keep = np.concatenate([is_sale, is_sale & lines["returned"]])
    line_txn = np.tile(lines["txn"], 2)
    is_return = np.arange(2 * n_lines) >= n_lines
    cents = np.where(is_return, -np.tile(lines["cents"], 2), np.tile(lines["cents"], 2))
    return_day = np.where(is_return, np.tile(lines["return_day"], 2), -1)
    c = txn["cust"][line_txn]
    missing &= ~cust["has_phone"][c]  # as in the real files: only on the junk phone
    rows = np.repeat(np.flatnonzero(keep), copies[keep])

    # Customer ids: each customer owns a block of ids; numbers are a random permutation.
    id_start = np.cumsum(cust["n_ids"]) - cust["n_ids"]
    id_number = rng.permutation(int(cust["n_ids"].sum())) + 1
    customer_id = id_number[id_start[c] + txn["id_pick"][line_txn]]
    # Rows by phone, highest first (the junk phone leads, as in the real file), then random.
    phone = cust["phone"][c[rows]]
    order_key = (phone.max() - phone) * np.int64(2**32) + rng.integers(0, 2**32, rows.size)
    order = np.argsort(order_key, kind="stable")
    rows = rows[order]
    return {
        "phone": phone[order],
        "customer_id": customer_id[rows],
        "cents": cents[rows],
        "missing": missing[rows],
        "order_day": txn["day"][line_txn[rows]],
        "iso": txn["iso"][line_txn[rows]],
        "return_day": return_day[rows],
        "sentinel_variant": variant[rows],
        "online": txn["online"][line_txn[rows]],
        "store": txn["store"][line_txn[rows]],
        "txn": line_txn[rows],
    }


def _conversations(
    rng: np.random.Generator, cust: dict[str, np.ndarray], m: EngagementModel
) -> dict[str, np.ndarray]:
    """Index conversation per contacted customer, then follow-ups > 30 days later."""
    n = cust["phone"].size
    online_store = rng.choice(m.n_stores, n, p=_store_popularity(m))
    store = np.where(cust["online"], online_store, cust["home_store"])
    idx = np.flatnonzero(cust["contacted"])
    first_day = cust["contact_day"][idx]
    k = rng.poisson(np.asarray(m.followup_rate)[cust["tier"][idx]])
    earliest, latest = first_day + 31, N_DAYS - 2
    k = np.where(earliest <= latest, k, 0)
    f_owner = np.repeat(np.arange(idx.size), k)
    span = (latest - earliest + 1)[f_owner]
    f_day = earliest[f_owner] + (rng.random(f_owner.size) * span).astype(np.int64)
    f_second = rng.integers(OPEN_SECONDS[0], OPEN_SECONDS[1], f_owner.size)
    p_resp = np.asarray(m.followup_response_p)[cust["responded"][idx][f_owner].astype(int)]
    f_resp = rng.random(f_owner.size) < p_resp

    who = np.concatenate([idx, idx[f_owner]])
    seconds = np.concatenate(
        [first_day * 86400 + cust["contact_second"][idx], f_day * 86400 + f_second]
    )
    response = np.concatenate([cust["responded"][idx], f_resp])
    messages = np.where(response, 2 + rng.poisson(1.6, who.size), 1 + rng.poisson(0.1, who.size))
    gaps = 1 + rng.poisson(180, who.size)
    order = np.argsort(seconds, kind="stable")
    return {
        "phone": cust["phone"][who[order]],
        "messages": messages[order],
        "response": response[order],
        "conversation_id": FIRST_CONVERSATION_ID + np.cumsum(gaps),
        "seconds": seconds[order],
        "store": store[who[order]],
    }


def hex8_codes(values: np.ndarray, salt: int) -> np.ndarray:
    """Distinct 8-hex-digit codes for distinct values below 2**32.

    (v + salt) times an odd number, modulo 2**32, then XOR a constant: a bijection.
    """
    mod = np.uint64(2**32)
    x = (values.astype(np.uint64) + np.uint64(salt % 2**32)) % mod
    x = (x * np.uint64(2654435761)) % mod ^ np.uint64(0x5BD1E995)
    nibbles = (x[:, None] >> np.arange(28, -1, -4, dtype=np.uint64)) & np.uint64(15)
    return np.array(list("0123456789abcdef"))[nibbles.astype(np.int64)].view("<U8")[:, 0]


def _mean(values: np.ndarray, mask: np.ndarray) -> float | None:
    """Mean over the masked units; None when there are none (too small a simulation)."""
    return float(values[mask].mean()) if mask.any() else None


def truth(data: EngagementData) -> dict[str, Any]:
    """The known effects: sample ATE/ATT and naive difference, and their expectations."""
    cust = data.customers
    contacted, responded = cust["contacted"], cust["responded"]
    non = contacted & ~responded
    expected = expected_truth(data.model)
    outcomes = {}
    for o in OUTCOMES:
        y0, y1 = cust[f"y0_{o}"], cust[f"y1_{o}"]
        observed = np.where(responded, y1, y0)
        mean_resp, mean_non = _mean(observed, responded), _mean(observed, non)
        outcomes[o] = {
            "sample_ate": _mean(y1 - y0, contacted),
            "sample_att": _mean(y1 - y0, responded),
            "sample_mean_responders": mean_resp,
            "sample_mean_non_responders": mean_non,
            "sample_naive_difference": (
                None if mean_resp is None or mean_non is None else mean_resp - mean_non
            ),
            **expected[o],
        }
    m = data.model
    params = {f.name: getattr(m, f.name) for f in dataclasses.fields(m) if f.name != "effect"}
    return {
        "scenario": "engagement",
        "seed": data.seed,
        "customers": int(cust["phone"].size),
        "effect": m.effect.terms,
        "junk_phone": data.junk_phone,
        "counts": {
            "customers_with_phone": int(cust["has_phone"].sum()),
            "contacted": int(contacted.sum()),
            "responders": int(responded.sum()),
            "conversations": int(data.outbound["phone"].size),
            "sales_lines": int(data.sales["phone"].size),
            "return_lines": int((data.sales["cents"] < 0).sum()),
            "missing_amounts": int(data.sales["missing"].sum()),
        },
        "definitions": DEFINITIONS,
        "outcomes": outcomes,
        "expected_by_segment": expected_by_segment(m),
        "model": params,
    }


DEFINITIONS = {
    "unit": "a customer is one phone_encoded value other than junk_phone; its lines may "
    "carry several Customer_id_encoded values",
    "contact": "the phone's earliest date_of_communication; responded = has_response of "
    "that conversation (later conversations have no effect)",
    "window": "(contact time, contact time + W days]: Order_Date from the day after "
    "contact to W days after it (orders are dated 00:00)",
    "purchased_Wd": "1 if any transaction has its Order_Date in the window",
    "net_spend_Wd": "sum of Amount_Including_VAT over distinct lines (exact duplicates "
    "dropped) with Order_Date in the window, return lines included",
    "sample_ate": "mean of Y(1) - Y(0) over contacted customers",
    "sample_att": "mean of Y(1) - Y(0) over responders",
    "expected_*": "closed-form expectation over the customer population",
    "naive_difference": "mean observed outcome of responders minus non-responders",
}
