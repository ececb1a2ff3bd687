"""The naive row-join method against the published figures, on the real Mercaux exports.

The published values are the ones quoted in issue 5; the join size and the means are also
recomputed here with the csv module alone, independently of pandas.
"""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from pushlift.analysis.engagement_naive import NaiveRowJoinResult, naive_row_join
from pushlift.errors import InputError

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "mercaux"
SALES, MESSAGES = DATA / "sales.csv", DATA / "outbound.csv"


@pytest.fixture(scope="module")
def result() -> NaiveRowJoinResult:
    return naive_row_join(SALES, MESSAGES)


def test_published_figures_reproduced_at_their_rounding(result: NaiveRowJoinResult) -> None:
    assert result.joined_rows == 135_957
    assert round(result.mean_amount_non_responders, 2) == 65.96
    assert round(result.mean_amount_responders, 2) == 60.79
    assert round(result.coef_number_of_messages, 4) == -0.0426
    assert round(result.coef_has_response, 4) == -2.1093
    assert round(result.accuracy_pct, 2) == 71.48
    assert result.all_match
    assert [f.published for f in result.figures] == [65.96, 60.79, -0.0426, -2.1093, 71.48]


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_join_size_and_means_match_a_plain_python_join(result: NaiveRowJoinResult) -> None:
    sales, messages = _read(SALES), _read(MESSAGES)
    conversations: dict[str, Counter[bool]] = defaultdict(Counter)
    for m in messages:
        conversations[m["phone_encoded"]][m["has_response"] == "TRUE"] += 1
    total: Counter[bool] = Counter()
    rows: Counter[bool] = Counter()
    for s in sales:
        for responded, k in conversations.get(s["phone_encoded"], Counter()).items():
            rows[responded] += k
            # No missing amount falls on a messaged phone, so imputation has no effect.
            total[responded] += k * float(s["Amount_Including_VAT"])
    assert rows[False] + rows[True] == result.joined_rows == 135_957
    assert result.sales_rows == len(sales) == 58_376
    assert result.message_rows == len(messages) == 4_819
    assert result.missing_amounts_in_join == 0
    assert total[False] / rows[False] == pytest.approx(result.mean_amount_non_responders, 1e-12)
    assert total[True] / rows[True] == pytest.approx(result.mean_amount_responders, 1e-12)
    # A standardized coefficient is the raw one times the feature's standard deviation;
    # for 0/1 has_response that is sqrt(p(1-p)), p the responders' share (here of all rows,
    # the fit used 70% of them).
    share = rows[True] / (rows[False] + rows[True])
    sd = (share * (1 - share)) ** 0.5
    assert result.coef_has_response / result.raw_coef_has_response == pytest.approx(sd, rel=2e-3)


def test_flaw_diagnostics(result: NaiveRowJoinResult) -> None:
    # The classifier never predicts the rare class: accuracy is the majority share.
    assert result.classifier_share_predicted_high == 0.0
    assert result.accuracy_pct == result.majority_class_accuracy_pct
    # The regression explains almost nothing, and the published coefficients are per
    # standard deviation: a responder's raw coefficient is about twice as large.
    assert 0 < result.regression_test_r2 < 0.01
    assert result.raw_coef_has_response < 2 * result.coef_has_response
    # Day-first dates a month-first parse misreads, counted by hand-written rule
    # (D/M/YY with day <= 12 and day != month) over the file.
    sales = _read(SALES)
    order_misread = 0
    for s in sales:
        head = s["Order_Date"].split(" ")[0].split("/")
        if len(head) == 3 and int(head[0]) <= 12 and head[0] != head[1]:
            order_misread += 1
    assert result.dmy_dates_misread["Order_Date"] == order_misread > 10_000
    assert result.return_lines_in_join > 0


def test_missing_column_names_the_file_and_column(tmp_path: Path) -> None:
    bad = tmp_path / "outbound.csv"
    bad.write_text("phone_encoded,number_of_messages\n1,2\n")
    with pytest.raises(InputError) as e:
        naive_row_join(SALES, bad)
    assert e.value.column == "has_response" and e.value.file == str(bad)
