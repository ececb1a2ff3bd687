"""Both importers on damaged files (hypothesis): every outcome is an import or one
PushliftError naming the file; never another exception, and a refused import leaves the
store exactly as it was."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pushlift.errors import PushliftError
from pushlift.ingest.crm import import_crm
from pushlift.ingest.mall import import_mall
from pushlift.schema import TABLES
from pushlift.store import Store

MERCAUX = Path(__file__).resolve().parents[3] / "shared" / "data" / "mercaux"
CONSUMER = b"consumer_id,age,gender,loyalty_status\n" + b"".join(
    b"%d,%d,%s,%s\n" % (100 + i, 20 + i % 50, (b"F", b"Male")[i % 2], (b"1", b"high")[i % 3 == 0])
    for i in range(40)
)
PURCHASE = b"consumer_id,from_second_store_sales,realtime_message\n" + b"".join(
    b"%d,%d.%02d,%d\n" % (100 + i, i % 7 * 3, i % 100, i % 2) for i in range(40)
)


def _lines(path: Path, n: int) -> bytes:
    return b"\n".join(path.read_bytes().split(b"\n")[:n]) + b"\n"


SALES, MESSAGES = _lines(MERCAUX / "sales.csv", 120), _lines(MERCAUX / "outbound.csv", 40)
NOISE = st.sampled_from(
    [b"", b",", b"\r", b"\n", b'"', b"\x00", b"\xff", b"1e308", b"-1", b"NaN",
     b"999999999999999999999", b"\xc3", b"; ", b"\t", b"0x10"]
)  # fmt: skip


@st.composite
def damaged(draw: st.DrawFn, clean: bytes) -> bytes:
    data = bytearray(clean)
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(data)))
        cut = draw(st.integers(0, 12))
        data[at : at + cut] = draw(NOISE)
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


def _counts(store: Store) -> list[int]:
    return [store.con.execute(f"SELECT count(*) FROM {t.name}").fetchall()[0][0] for t in TABLES]


FUZZ = settings(max_examples=40, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])  # fmt: skip


@FUZZ
@given(consumer=damaged(CONSUMER), purchase=damaged(PURCHASE), quarantine=st.booleans())
def test_import_mall_on_damaged_files(consumer: bytes, purchase: bytes, quarantine: bool) -> None:
    with tempfile.TemporaryDirectory() as folder:
        c, p = Path(folder) / "consumer.csv", Path(folder) / "purchase.csv"
        c.write_bytes(consumer)
        p.write_bytes(purchase)
        store = Store.open(Path(folder) / "s.duckdb")
        try:
            before = _counts(store)
            try:
                import_mall(store, c, p, quarantine=quarantine)
            except PushliftError as e:
                assert "consumer.csv" in str(e) or "purchase.csv" in str(e), str(e)
                assert _counts(store) == before
        finally:
            store.close()


@FUZZ
@given(sales=damaged(SALES), messages=damaged(MESSAGES))
def test_import_crm_on_damaged_files(sales: bytes, messages: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        s, m = Path(folder) / "sales.csv", Path(folder) / "outbound.csv"
        s.write_bytes(sales)
        m.write_bytes(messages)
        store = Store.open(Path(folder) / "s.duckdb")
        try:
            before = _counts(store)
            try:
                import_crm(store, s, m)
            except PushliftError as e:
                assert "sales.csv" in str(e) or "outbound.csv" in str(e), str(e)
                assert _counts(store) == before
        finally:
            store.close()
