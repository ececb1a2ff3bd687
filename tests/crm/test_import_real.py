"""Importing the real Mercaux exports: counts per reason, hand-checked dates, returns."""

from __future__ import annotations

import json

import pandas as pd
from crm_data import MESSAGES, SALES, imported, real_store

from pushlift.store import Store


def raw_sales() -> pd.DataFrame:
    return pd.read_csv(SALES, dtype=str, keep_default_na=False)


def test_sales_rows_read_kept_and_dropped_per_reason() -> None:
    real_import = imported()
    q = real_import[1].quality.sales
    assert (q.rows_read, q.rows_kept) == (58_376, 54_752)
    assert q.dropped_exact_duplicate == 3_591
    assert q.dropped_missing_amount == 33  # 50 lines lack an amount; 17 of them are duplicates
    assert q.missing_amount_total == 50
    # Independently with pandas: identical lines after the first, then empty amounts.
    raw = raw_sales()
    dup = raw.duplicated(keep="first")
    assert int(dup.sum()) == q.dropped_exact_duplicate
    assert int((raw["Amount_Including_VAT"] == "").sum()) == q.missing_amount_total
    assert int(((raw["Amount_Including_VAT"] == "") & ~dup).sum()) == q.dropped_missing_amount
    assert q.rows_read - q.rows_kept == q.dropped_exact_duplicate + q.dropped_missing_amount


def test_messages_and_keys() -> None:
    real_import = imported()
    quality = real_import[1].quality
    m, k = quality.messages, quality.keys
    assert (m.rows_read, m.rows_kept, m.dropped_exact_duplicate) == (4_819, 4_819, 0)
    assert (m.phones, m.with_response) == (1_375, 1_359)
    assert (m.contact_first, m.contact_last) == ("2024-01-04", "2024-12-30")
    # The row-by-row join of the raw files has the published size.
    assert k.row_join_rows_raw == 135_957
    top = k.shared_phones[0]
    assert (top.phone, top.customer_ids, top.conversations) == ("1528", 7_467, 0)
    assert [p.phone for p in k.shared_phones] == ["1528", "675", "692", "737"]
    assert (k.message_phones, k.message_phones_in_sales) == (1_375, 1_048)
    assert "placeholder" in k.notes[0] and "135,957" in k.notes[-1]


def test_date_formats_and_the_iso_swap_evidence() -> None:
    real_import = imported()
    quality = real_import[1].quality
    s, ev = quality.sales, quality.iso_evidence
    assert (s.order_date_dmy, s.order_date_iso, s.order_date_iso_swapped) == (36_240, 12_106, 6_406)
    assert (s.order_first, s.order_last) == ("2023-01-01", "2024-12-31")
    assert (s.return_first, s.return_last) == ("2023-01-05", "2025-02-10")
    # As written, 503 returns would precede their own order; swapped, none does, like all
    # 6,654 returns whose order date is unambiguous.
    assert (ev.checkable, ev.impossible_as_written, ev.impossible_swapped) == (927, 503, 0)
    assert (ev.control_checked, ev.control_impossible) == (6_654, 0)
    assert quality.iso_reading == "swapped"
    assert s.returns_before_order == 0


def _line(store: Store, line_no: int) -> tuple:
    return store.con.execute(
        """SELECT amount_cents, CAST(order_time AS VARCHAR), CAST(return_time AS VARCHAR),
                  order_date_format FROM crm_sale_line WHERE line_no = ?""",
        [line_no],
    ).fetchall()[0]


def test_hand_checked_dates() -> None:
    with real_store() as store:
        # Raw lines quoted from sales.csv (line numbers with the header as line 1).
        # 2: 1528,3864,-135,2024-12-28 00:00:00,13/1/25 00:00,421e5f1c,5ab145ef
        assert _line(store, 2) == (
            -13500, "2024-12-28 00:00:00+00", "2025-01-13 00:00:00+00", "iso")
        # 3: 1528,4719,51,6/6/23 00:00,1/1/00 00:00,f3a00157,3f84e133  (1/1/00 = no return)
        assert _line(store, 3) == (5100, "2023-06-06 00:00:00+00", None, "dmy")
        # 22694: 1430,2731,0,9/11/23 00:00,7/12/23 00:00,...  day-first: 9 Nov, returned 7 Dec
        assert _line(store, 22694) == (
            0, "2023-11-09 00:00:00+00", "2023-12-07 00:00:00+00", "dmy")
        # 3055: 1528,10709,-47,2024-11-02 00:00:00,15/2/24 00:00  ISO written month-first:
        # bought 11 Feb, returned 15 Feb (as written it would be returned 9 months before).
        assert _line(store, 3055) == (
            -4700, "2024-02-11 00:00:00+00", "2024-02-15 00:00:00+00", "iso-swapped")
        # 5079: 1528,2714,-60,2024-06-04 00:00:00,6/4/24 00:00  bought and returned 6 April.
        assert _line(store, 5079)[1:3] == ("2024-04-06 00:00:00+00", "2024-04-06 00:00:00+00")
        # 7: 1528,3102,37,2023-11-01 00:00:00,1/1/2000 0:00  the sentinel spelled in full.
        assert _line(store, 7) == (3700, "2023-01-11 00:00:00+00", None, "iso-swapped")
        # outbound line 2: 177,6,TRUE,1105642,2024-01-04 16:26:49,65751190
        assert store.con.execute(
            """SELECT CAST(contact_time AS VARCHAR), n_messages, has_response, phone_key
               FROM crm_conversation WHERE line_no = 2"""
        ).fetchall() == [("2024-01-04 16:26:49+00", 6, True, "177")]


def test_sentinels_returns_and_transactions() -> None:
    real_import = imported()
    s = real_import[1].quality.sales
    assert (s.no_return_sentinel, s.no_return_sentinel_other_spelling) == (47_151, 1)
    assert (s.sale_lines, s.return_lines, s.zero_amount_lines) == (47_171, 7_581, 585)
    assert s.sale_lines_with_return_date == 20 and s.returns_without_return_date == 0
    assert (s.returns_matched_line, s.returns_matched_transaction, s.returns_unmatched) == (
        1_171, 2_396, 4_014)
    assert s.gross_sales_cents == 418_356_194 and s.returns_cents == 79_326_500
    assert (s.transactions, s.transactions_with_several_lines, s.max_lines_per_transaction) == (
        35_876, 11_484, 15)
    assert s.transactions_several_order_dates == 0  # the swap keeps line items together
    assert s.return_only_transactions == 3_415


def test_returns_pair_with_a_sale_line_of_their_transaction() -> None:
    with real_store() as store:
        # 3055 (-47, transaction 011238cc) pairs with the first 47.00 sale line of it (3056).
        assert store.con.execute(
            "SELECT return_match, matched_line_no FROM crm_sale_line WHERE line_no = 3055"
        ).fetchall() == [("line", 3056)]
        # Every pair has the same transaction and opposite amounts; no sale line is used twice.
        bad, reused = store.con.execute(
            """SELECT count(*) FILTER (WHERE s.transaction_key <> r.transaction_key
                                       OR s.amount_cents <> -r.amount_cents),
                      count(*) - count(DISTINCT r.matched_line_no)
               FROM crm_sale_line r JOIN crm_sale_line s
                 ON s.dataset_id = r.dataset_id AND s.line_no = r.matched_line_no"""
        ).fetchall()[0]
        assert (bad, reused) == (0, 0)


def test_transaction_view_nets_returns_without_going_negative() -> None:
    with real_store() as store:
        rows = store.con.execute(
            """SELECT count(*), sum(gross_cents), sum(returned_cents), sum(net_cents),
                      sum(unmatched_return_cents), min(net_cents)
               FROM crm_transaction WHERE dataset_id = 'crm'"""
        ).fetchall()[0]
        n, gross, returned, net, unmatched, lowest = rows
        assert n == 35_876 and gross == 418_356_194 and returned == 79_326_500
        assert lowest == 0
        assert gross - (returned - unmatched) == net  # netted returns + excess = all returns
        # The owner of a transaction is its first sale line: 8e616383 was bought on phone 675
        # and returned under the placeholder phone.
        assert store.con.execute(
            """SELECT phone_key, gross_cents, returned_cents, net_cents FROM crm_transaction
               WHERE transaction_key = '8e616383'"""
        ).fetchall() == [("675", 22700, 22700, 0)]


def test_dropped_lines_are_stored_for_audit() -> None:
    with real_store() as store:
        assert store.con.execute(
            "SELECT reason, count(*) FROM crm_dropped_line GROUP BY reason ORDER BY reason"
        ).fetchall() == [("exact_duplicate", 3_591), ("missing_amount", 33)]
        # 9047 repeats 9046 byte for byte.
        lines = SALES.read_text().splitlines()
        assert lines[9046] == lines[9045]
        assert store.con.execute(
            "SELECT duplicate_of FROM crm_dropped_line WHERE line_no = 9047"
        ).fetchall() == [(9046,)]


def test_quality_report_is_stored_as_json() -> None:
    with real_store() as store:
        (report,) = store.con.execute(
            "SELECT quality_json FROM crm_import WHERE dataset_id = 'crm'"
        ).fetchall()[0]
        data = json.loads(report)
        assert data["sales"]["rows_kept"] == 54_752
        assert data["keys"]["row_join_rows_raw"] == 135_957
        assert MESSAGES.name in data["messages"]["file"]
