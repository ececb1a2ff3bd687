"""The engagement analysis' customer table, derived in numpy straight from the simulator.

Writing and importing the CSV exports takes seconds per dataset; calibration needs a
hundred datasets. This re-derives what `engagement_data` builds in SQL (one row per
contacted phone with a purchase before day 0: response, pre-contact purchases and net
spend over 365 days, contact location, net spend in days 1..W) from the simulator's own
arrays, plus each customer's true effect. `test_engagement_recovery` checks it against
the SQL table of an imported dataset, column by column.
"""

from __future__ import annotations

import numpy as np

from pushlift.sim.engagement import EngagementData

WINDOWS = (7, 30)


def _transactions(data: EngagementData) -> dict[str, np.ndarray]:
    """Per exported transaction with a sale line: phone, order day, net cents."""
    s = data.sales
    # Exact duplicate lines are export faults; line amounts within a transaction differ.
    key = s["txn"].astype(np.int64) * 2**32 + (s["cents"] + 2**31)
    _, first = np.unique(key, return_index=True)
    txn, cents = s["txn"][first], s["cents"][first]
    ids, inv = np.unique(txn, return_inverse=True)
    gross = np.bincount(inv, weights=np.maximum(cents, 0))
    returned = np.bincount(inv, weights=np.maximum(-cents, 0))
    sales = np.bincount(inv, weights=(cents > 0).astype(float))
    phone = np.zeros(ids.size, dtype=np.int64)
    day = np.zeros(ids.size, dtype=np.int64)
    phone[inv], day[inv] = s["phone"][first], s["order_day"][first]
    ok = sales > 0
    return {"phone": phone[ok], "day": day[ok], "net": np.maximum(gross - returned, 0)[ok]}


def customer_table(data: EngagementData, pre_days: int = 365) -> dict[str, np.ndarray]:
    """Analysis customers ordered by phone, with `tau_{W}`: Y(1) - Y(0) of net spend."""
    cust, o = data.customers, data.outbound
    tx = _transactions(data)
    first = np.unique(o["phone"], return_index=True)[1]  # conversations are in time order
    phones = o["phone"][first]
    rows = np.full(int(cust["phone"].max()) + 1, -1)
    rows[cust["phone"][cust["has_phone"]]] = np.flatnonzero(cust["has_phone"])
    unit = rows[phones]
    index = np.full(rows.size, -1)
    index[phones] = np.arange(phones.size)
    who = index[tx["phone"]]
    m = who >= 0
    who, day, net = who[m], tx["day"][m], tx["net"][m]
    after = day - cust["contact_day"][unit][who]
    k = phones.size

    def count(mask: np.ndarray) -> np.ndarray:
        return np.bincount(who[mask], minlength=k)

    def total(mask: np.ndarray) -> np.ndarray:
        return np.bincount(who[mask], weights=net[mask], minlength=k).astype(np.int64)

    pre = (after < 0) & (after >= -pre_days)
    out = {
        "phone_key": phones,
        "responded": cust["responded"][unit].astype(int),
        "pre_purchases": count(pre),
        "pre_net_cents": total(pre),
        "location_key": data.store_codes[o["store"][first]],
    }
    for w in WINDOWS:
        out[f"net_cents_{w}d"] = total((after >= 1) & (after <= w))
        out[f"tau_{w}"] = (cust[f"y1_net_spend_{w}d"] - cust[f"y0_net_spend_{w}d"])[unit]
    complete = cust["contact_day"][unit] + max(WINDOWS) <= tx["day"].max()
    keep = (count(after < 0) > 0) & complete
    return {name: v[keep] for name, v in out.items()}
