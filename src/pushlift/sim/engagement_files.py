"""Write a simulated engagement dataset as the retailer's two CSV exports and truth.json.

The text follows `../shared/data/mercaux/` exactly: the same headers, CRLF line ends,
ISO `YYYY-MM-DD 00:00:00` or day-first `D/M/YY 00:00` order dates (chosen per
transaction), day-first return dates with `1/1/00 00:00` for "no return", amounts
without trailing zeros (`51`, `27.2`, `84.15`), `TRUE`/`FALSE` responses.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from pushlift.sim.engagement import EngagementData, hex8_codes, truth

SALES_HEADER = [
    "phone_encoded",
    "Customer_id_encoded",
    "Amount_Including_VAT",
    "Order_Date",
    "Return_Date",
    "location_encoded",
    "transaction_id_encoded",
]
OUTBOUND_HEADER = [
    "phone_encoded",
    "number_of_messages",
    "has_response",
    "id of conversation",
    "date_of_communication",
    "location_encoded",
]
LEDGER_START = date(2023, 1, 1)
NO_RETURN, NO_RETURN_VARIANT = "1/1/00 00:00", "1/1/2000 0:00"
ONLINE = "Online_Sales"


def _by_day(days: np.ndarray, fmt: str) -> np.ndarray:
    """Format day offsets from the ledger start through a table of the distinct days."""
    uniq, inverse = np.unique(days, return_inverse=True)
    table = []
    for d in uniq.tolist():
        t = LEDGER_START + timedelta(days=d)
        table.append(
            f"{t:%Y-%m-%d} 00:00:00" if fmt == "iso" else f"{t.day}/{t.month}/{t:%y} 00:00"
        )
    return np.array(table, dtype=object)[inverse]


def _amounts(cents: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """`51`, `-135`, `27.2`, `84.15`; empty when missing."""
    uniq, inverse = np.unique(cents, return_inverse=True)
    table = []
    for c in uniq.tolist():
        whole, frac = divmod(abs(c), 100)
        text = f"{whole}" if frac == 0 else f"{whole}.{frac:02d}".rstrip("0")
        table.append(f"-{text}" if c < 0 else text)
    out = np.array(table, dtype=object)[inverse]
    out[missing] = ""
    return out


def sales_frame(data: EngagementData) -> pd.DataFrame:
    s = data.sales
    order = np.where(s["iso"], _by_day(s["order_day"], "iso"), _by_day(s["order_day"], "dmy"))
    returned = s["return_day"] >= 0
    ret = np.where(s["sentinel_variant"], NO_RETURN_VARIANT, NO_RETURN).astype(object)
    if returned.any():
        ret[returned] = _by_day(s["return_day"][returned], "dmy")
    location = np.where(s["online"], ONLINE, data.store_codes[s["store"]]).astype(object)
    columns = [
        s["phone"],
        s["customer_id"],
        _amounts(s["cents"], s["missing"]),
        order,
        ret,
        location,
        hex8_codes(s["txn"], data.seed * 104729 + 7),
    ]
    return pd.DataFrame(dict(zip(SALES_HEADER, columns, strict=True)))


def outbound_frame(data: EngagementData) -> pd.DataFrame:
    o = data.outbound
    seconds = o["seconds"].astype("timedelta64[s]")
    stamps = np.datetime64(LEDGER_START, "s") + seconds
    text = np.datetime_as_string(stamps, unit="s")
    columns = [
        o["phone"],
        o["messages"],
        np.where(o["response"], "TRUE", "FALSE"),
        o["conversation_id"],
        np.char.replace(text.astype(str), "T", " "),
        data.store_codes[o["store"]],
    ]
    return pd.DataFrame(dict(zip(OUTBOUND_HEADER, columns, strict=True)))


def write_files(data: EngagementData, directory: str | Path) -> dict[str, Path]:
    """Write sales.csv, outbound.csv and truth.json into `directory`; returns their paths."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / name for name in ("sales.csv", "outbound.csv", "truth.json")}
    sales_frame(data).to_csv(paths["sales.csv"], index=False, lineterminator="\r\n")
    outbound_frame(data).to_csv(paths["outbound.csv"], index=False, lineterminator="\r\n")
    document = json.dumps(truth(data), indent=1, allow_nan=False)
    paths["truth.json"].write_text(document + "\n", encoding="utf-8")
    return paths
