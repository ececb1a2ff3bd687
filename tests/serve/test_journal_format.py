"""A journaled group reads back exactly as written: every kind of event, missing values,
64-bit ids, float coordinates to the last bit, and notifications with the event they
belong to."""

from __future__ import annotations

import numpy as np

from pushlift.engine.events import EventBatch
from pushlift.serve.journal import NOTE_COLUMNS, Group, decode, encode


def group() -> Group:
    batch = EventBatch(
        event_id=np.array([2**63 - 1, 5, 6], dtype=np.int64),
        kind=np.array([0, 1, 2], dtype=np.int8),
        subscriber_id=np.array([0, 2**62, 7], dtype=np.int64),
        time_us=np.array([1, 2, 3], dtype=np.int64) + 1_772_445_600_000_000,
        lat=np.array([40.123456789012345, np.nan, np.nan]),
        lon=np.array([-3.7000000000000001e-5, np.nan, np.nan]),
        vendor_id=np.array([None, "café ☕", "v"], dtype=object),
        amount_cents=np.array([0, 10**12, 0], dtype=np.int64),
        domain=np.array([None, None, "shop.example"], dtype=object),
    )
    notes = dict.fromkeys(NOTE_COLUMNS, [None])
    notes |= {"offer_id": ["o"], "vendor_id": ["café ☕"], "delivered": [True],
              "bid_cents": [40], "price_cents": [39], "eligible_offers": [2],
              "reason": ["highest of 2"], "content": ["2x1 \"quoted\"\n"]}  # fmt: skip
    ingest = (np.arange(6, dtype=np.int64) + 1_772_445_600_000_100)[::2]  # a strided view
    return Group(batch, ingest, np.array([2, 0, 4], dtype=np.int8), np.array([1]), notes)


def test_a_group_reads_back_as_written() -> None:
    written = group()
    read = decode(encode(written))
    for name in ("event_id", "kind", "subscriber_id", "time_us", "amount_cents"):
        got, want = getattr(read.batch, name), getattr(written.batch, name)
        assert got.dtype == want.dtype and got.tolist() == want.tolist(), name
    for name in ("lat", "lon"):  # bit for bit, missing as NaN
        np.testing.assert_array_equal(getattr(read.batch, name), getattr(written.batch, name))
    for name in ("vendor_id", "domain"):
        assert getattr(read.batch, name).tolist() == getattr(written.batch, name).tolist()
    assert read.ingest_us.tolist() == written.ingest_us.tolist()
    assert read.outcome.tolist() == [2, 0, 4] and read.at.tolist() == [1]
    assert read.notes == written.notes
    (note,) = read.notifications()
    assert note["event_id"] == 5 and note["consumer_id"] == 2**62
    assert note["ingest_time"] == written.ingest_us[1] and note["vendor_id"] == "café ☕"


def test_groups_concatenate_with_their_notifications_in_place() -> None:
    both = Group.concat([group(), group()])
    assert len(both) == 6
    assert both.at.tolist() == [1, 4]
    assert [n["event_id"] for n in both.notifications()] == [5, 5]
