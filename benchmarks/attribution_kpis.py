"""Attribution and KPIs in the store (DuckDB SQL) against the same logic in pandas.

Setup: a store with 10M purchase events (2% of them duplicate records under new ids) and
1M notifications (a fifth held out) of 500,000 subscribers at 1,000 vendors over a week;
a tenth of the delivered notifications are followed by a purchase at their vendor.

Measured, in the same run, best of `--repeat`:
- pushlift: `kpi_report(store)`: de-duplication, last-touch attribution in a 24-hour
  window, per-notification outcomes, every KPI overall and by vendor, offer, zone, hour
  and segment, with the statistics;
- pushlift, attribution only: `attribute(con)` (the two temp tables);
- pandas: the same logic written the usual way: drop_duplicates on the natural key,
  `merge_asof` (backward, by subscriber and vendor, strictly before, 24-hour tolerance) for
  last touch, groupbys for per-notification outcomes and for the overall and per-vendor
  KPIs (fewer breakdowns than pushlift computes). The frames are already in memory when
  its clock starts; loading them from the store is timed separately.
Both must agree on conversions and revenue per vendor, or the script fails.

Run: .venv/bin/python benchmarks/attribution_kpis.py [--purchases N] [--notifications N]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from pushlift import schema
from pushlift.analysis.attribution import attribute
from pushlift.analysis.kpis import kpi_report
from pushlift.store import Store

SUBSCRIBERS, VENDORS, DAYS = 500_000, 1_000, 7
T0_US = 1_772_409_600_000_000  # 2026-03-02 00:00 UTC
WEEK_US = DAYS * 86_400_000_000
WINDOW = pd.Timedelta(hours=24)
TS = pa.timestamp("us", tz="UTC")


def build_store(path: Path, n_purchases: int, n_notes: int, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    popularity = 1 / np.arange(1, VENDORS + 1) ** 0.7
    popularity /= popularity.sum()
    vendors = np.array([f"v{i:04d}" for i in range(VENDORS)], dtype=object)
    held = rng.random(SUBSCRIBERS + 1) < 0.2

    note_sub = rng.integers(1, SUBSCRIBERS + 1, n_notes)
    note_vendor = rng.choice(VENDORS, n_notes, p=popularity)
    note_t = T0_US + rng.integers(0, WEEK_US, n_notes)
    delivered = ~held[note_sub]

    base = n_purchases - n_purchases // 50
    follow = np.flatnonzero(delivered & (rng.random(n_notes) < 0.1))
    n_base = base - len(follow)
    buy_sub = np.concatenate([rng.integers(1, SUBSCRIBERS + 1, n_base), note_sub[follow]])
    buy_vendor = np.concatenate([rng.choice(VENDORS, n_base, p=popularity), note_vendor[follow]])
    buy_t = np.concatenate(
        [
            T0_US + rng.integers(0, WEEK_US, n_base),
            note_t[follow] + rng.integers(1, 86_400_000_000, len(follow)),
        ]
    )
    amount = np.round(rng.lognormal(np.log(2500), 0.8, base)).astype(np.int64) + 1
    dup = rng.choice(base, n_purchases - base, replace=False)
    buy_sub, buy_vendor = (
        np.concatenate([buy_sub, buy_sub[dup]]),
        np.concatenate([buy_vendor, buy_vendor[dup]]),
    )
    buy_t, amount = np.concatenate([buy_t, buy_t[dup]]), np.concatenate([amount, amount[dup]])

    store = Store.open(path)
    n = len(buy_sub)
    none_f = pa.nulls(n, pa.float64())
    store.append(
        schema.EVENT,
        {
            "event_id": np.arange(1, n + 1),
            "kind": pa.array(["purchase"] * n),
            "consumer_id": buy_sub,
            "lat": none_f,
            "lon": none_f,
            "vendor_id": vendors[buy_vendor],
            "amount_cents": amount,
            "domain": pa.nulls(n, pa.string()),
            "event_time": pa.array(buy_t, type=TS),
            "ingest_time": pa.array(buy_t, type=TS),
        },
    )
    store.append(
        schema.NOTIFICATION,
        {
            "notification_id": np.arange(1, n_notes + 1) + 10 * n_purchases,
            "event_id": np.arange(1, n_notes + 1) + 10 * n_purchases,
            "consumer_id": note_sub,
            "offer_id": np.char.add("offer-", vendors[note_vendor].astype(str)).astype(object),
            "vendor_id": vendors[note_vendor],
            "zone_id": np.char.add("zone-", vendors[note_vendor].astype(str)).astype(object),
            "experiment_id": pa.array(["bench"] * n_notes),
            "arm": np.where(delivered, "treatment", "holdout").astype(object),
            "delivered": delivered,
            "bid_cents": rng.integers(10, 200, n_notes),
            "price_cents": rng.integers(10, 200, n_notes),
            "runner_up_bid_cents": pa.nulls(n_notes, pa.int64()),
            "eligible_offers": np.ones(n_notes, np.int32),
            "reason": pa.array(["only eligible offer"] * n_notes),
            "content": pa.array(["offer"] * n_notes),
            "event_time": pa.array(note_t, type=TS),
            "ingest_time": pa.array(note_t, type=TS),
        },
    )
    store.close()


def load_frames(store: Store) -> tuple[pd.DataFrame, pd.DataFrame]:
    purchases = store.con.sql(
        "SELECT event_id, consumer_id, vendor_id, amount_cents, event_time FROM event "
        "WHERE kind = 'purchase'"
    ).df()
    notes = store.con.sql(
        "SELECT notification_id, consumer_id, vendor_id, delivered, price_cents, event_time "
        "FROM notification"
    ).df()
    return purchases, notes


def pandas_kpis(purchases: pd.DataFrame, notes: pd.DataFrame) -> pd.DataFrame:
    """Per-vendor conversions, revenue, spend and incremental conversion, pandas style."""
    unique = purchases.sort_values("event_id").drop_duplicates(
        ["consumer_id", "vendor_id", "event_time", "amount_cents"]
    )
    left = unique.sort_values("event_time")
    right = notes.sort_values(["event_time", "notification_id"]).rename(
        columns={"event_time": "note_time"}
    )
    matched = pd.merge_asof(
        left,
        right[["notification_id", "consumer_id", "vendor_id", "note_time"]],
        left_on="event_time",
        right_on="note_time",
        by=["consumer_id", "vendor_id"],
        direction="backward",
        allow_exact_matches=False,
        tolerance=WINDOW,
    ).dropna(subset=["notification_id"])
    credited = matched.groupby("notification_id").agg(
        purchases=("event_id", "size"), revenue=("amount_cents", "sum")
    )
    per_note = notes.join(credited, on="notification_id").fillna({"purchases": 0, "revenue": 0})
    per_note["converted"] = (per_note.purchases > 0).astype(np.int64)
    per_note["spend"] = np.where(per_note.delivered, per_note.price_cents, 0)
    unit = per_note.groupby(["vendor_id", "delivered", "consumer_id"]).agg(
        notes=("notification_id", "size"), conv=("converted", "sum")
    )
    unit["notes_sq"], unit["conv_sq"] = unit.notes**2, unit.conv**2
    unit["conv_notes"] = unit.conv * unit.notes
    arm = unit.groupby(level=[0, 1]).agg(
        n=("notes", "size"),
        x=("notes", "sum"),
        xx=("notes_sq", "sum"),
        y=("conv", "sum"),
        yy=("conv_sq", "sum"),
        xy=("conv_notes", "sum"),
    )
    r = arm.y / arm.x
    mx = arm.x / arm.n
    var = (
        (
            (arm.yy - arm.y**2 / arm.n)
            - 2 * r * (arm.xy - arm.x * arm.y / arm.n)
            + r**2 * (arm.xx - arm.x**2 / arm.n)
        )
        / (arm.n - 1)
        / mx**2
    )
    stats = pd.DataFrame({"rate": r, "var": var / arm.n}).unstack("delivered")
    sent = (
        per_note[per_note.delivered]
        .groupby("vendor_id")
        .agg(
            notifications=("notification_id", "size"),
            conversions=("converted", "sum"),
            revenue_cents=("revenue", "sum"),
            spend_cents=("spend", "sum"),
        )
    )
    sent["incremental"] = stats["rate"][True] - stats["rate"][False]
    sent["se"] = np.sqrt(stats["var"][True] + stats["var"][False])
    return sent


def best_of(repeat: int, fn) -> tuple[float, object]:  # noqa: ANN001 - any callable
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--purchases", type=int, default=10_000_000)
    ap.add_argument("--notifications", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results/attribution_kpis.json"
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.duckdb"
        t = time.perf_counter()
        build_store(path, args.purchases, args.notifications)
        print(f"store built in {time.perf_counter() - t:.1f} s", flush=True)
        store = Store.open(path)
        t_attr, _ = best_of(args.repeat, lambda: attribute(store.con))
        print(f"pushlift attribution: {t_attr:.2f} s", flush=True)
        t_kpi, report = best_of(args.repeat, lambda: kpi_report(store))
        print(f"pushlift kpi_report: {t_kpi:.2f} s", flush=True)
        t = time.perf_counter()
        purchases, notes = load_frames(store)
        t_load = time.perf_counter() - t
        store.close()
        print(f"pandas frames loaded in {t_load:.1f} s", flush=True)
        t_pd, by_vendor = best_of(args.repeat, lambda: pandas_kpis(purchases, notes))
        print(f"pandas merge_asof KPIs: {t_pd:.2f} s", flush=True)

    ours = {r.key: r for r in report.breakdowns["vendor"]}
    for vendor, row in by_vendor.iterrows():
        mine = ours[vendor]
        assert (mine.conversions, mine.revenue_cents) == (row.conversions, row.revenue_cents), (
            vendor
        )
        if mine.incremental_conversion is not None:
            assert abs(mine.incremental_conversion - row.incremental) < 1e-9, vendor
    result = {
        "purchases": args.purchases,
        "notifications": args.notifications,
        "conversions": report.kpi("conversions").value,
        "pushlift_kpi_report_s": round(t_kpi, 2),
        "pushlift_attribution_only_s": round(t_attr, 2),
        "pandas_merge_asof_kpis_s": round(t_pd, 2),
        "pandas_load_frames_s": round(t_load, 2),
        "speedup_full_report_vs_pandas": round(t_pd / t_kpi, 2),
        "speedup_attribution_vs_pandas": round(t_pd / t_attr, 2),
        "agree_per_vendor": True,
    }
    print(json.dumps(result, indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
