"""The published engagement analysis, reproduced exactly, flaws included.

A published analysis of the Mercaux exports (`sales.csv`, `outbound.csv`) reported:
average purchase $65.96 (non-responders) and $60.79 (responders), regression coefficients
-0.0426 (number_of_messages) and -2.1093 (has_response), and a "model accuracy" of 71.48%.
`naive_row_join` rebuilds those numbers step by step so a user can see where they came
from; it is a reproduction, not an analysis to act on (see `pushlift analyze engagement`).

Found by experiment (pandas 3.1, scikit-learn 1.9), every step needed for an exact match:

1. `sales.merge(outbound, on="phone_encoded")`: an inner, many-to-many row join (135,957
   rows); each sales line is repeated once per conversation of its phone.
2. Dates parsed month-first (`pd.to_datetime(..., format="mixed")`): day-first `D/M/YY`
   values with a day of 12 or less get day and month swapped. No figure uses a date.
3. Missing amounts filled with the mean (none of them is on a messaged phone: no effect).
4. Returns (negative amounts) kept as if they were purchases.
5. Mean amount per `has_response` over the joined rows: $65.96 and $60.79.
6. 70/30 split (random_state 42), features standardized (StandardScaler fit on the
   training part), LinearRegression of amount: -0.0426 and -2.1093 are coefficients per
   standard deviation of each feature, not dollars per message or per responder.
7. 80/20 split (random_state 42), a classifier of amount > 100 on the two standardized
   features (LogisticRegression; a RandomForest gives the same): it predicts "not over
   $100" for every row, so its 71.48% "accuracy" is just the share of such rows.

The split results depend on the row order of the join (sales first), so on the pandas
merge order; `pandas` is a runtime dependency for that reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from pushlift.errors import InputError

SALES_COLUMNS = ("phone_encoded", "Amount_Including_VAT", "Order_Date", "Return_Date")
MESSAGE_COLUMNS = ("phone_encoded", "number_of_messages", "has_response")
FEATURES = ["number_of_messages", "has_response"]
RANDOM_STATE = 42
HIGH_AMOUNT = 100.0
_DMY = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})")

# name -> (label, published value, decimals it was published with)
PUBLISHED: dict[str, tuple[str, float, int]] = {
    "mean_amount_non_responders": ("average purchase, non-responders ($)", 65.96, 2),
    "mean_amount_responders": ("average purchase, responders ($)", 60.79, 2),
    "coef_number_of_messages": ("regression coefficient, number_of_messages", -0.0426, 4),
    "coef_has_response": ("regression coefficient, has_response", -2.1093, 4),
    "accuracy_pct": ('"model accuracy" (%)', 71.48, 2),
}


@dataclass(frozen=True)
class PublishedFigure:
    """One published figure next to the value this reproduction gets."""

    name: str
    label: str
    published: float
    reproduced: float
    decimals: int
    matches: bool  # reproduced, rounded as published, equals the published value


@dataclass(frozen=True)
class FlawImpact:
    """What one flaw does: the naive figure next to the figure without that flaw."""

    flaw: str
    naive: str
    without_flaw: str


@dataclass(frozen=True)
class NaiveRowJoinResult:
    """The published pipeline's figures, each flaw's size, and diagnostics."""

    sales_rows: int
    message_rows: int
    joined_rows: int
    joined_sales_lines: int  # distinct sales lines in the join
    mean_amount_non_responders: float
    mean_amount_responders: float
    coef_number_of_messages: float  # per standard deviation (standardized feature)
    coef_has_response: float
    accuracy_pct: float
    regression_test_r2: float
    raw_coef_number_of_messages: float  # dollars per message, same fit unstandardized
    raw_coef_has_response: float  # dollars, responders minus non-responders, same fit
    classifier_share_predicted_high: float
    majority_class_accuracy_pct: float  # always predicting "not over $100"
    missing_amounts_in_join: int
    return_lines_in_join: int
    dmy_dates_misread: dict[str, int]  # per date column: D/M/YY values read month-first
    mean_amount_per_line_non_responders: float  # each sales line once, phone-level response
    mean_amount_per_line_responders: float
    mean_purchase_no_returns_non_responders: float  # joined rows, return lines left out
    mean_purchase_no_returns_responders: float
    figures: tuple[PublishedFigure, ...]
    flaws: tuple[FlawImpact, ...]

    @property
    def all_match(self) -> bool:
        return all(f.matches for f in self.figures)

    def to_jsonable(self) -> dict[str, Any]:
        from pushlift.analysis.results import to_jsonable

        return {**to_jsonable(self), "all_match": self.all_match}


def _read(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    if not path.exists():
        raise InputError("file not found", file=str(path))
    try:
        frame = pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read as CSV ({e})", file=str(path)) from None
    for column in columns:
        if column not in frame.columns:
            raise InputError("missing column", file=str(path), column=column)
    if frame.empty:
        raise InputError("no data rows", file=str(path))
    return frame


def _dmy_misread(values: pd.Series) -> int:
    """D/M/YY values a month-first parse reads wrongly (day <= 12 and day != month)."""
    count = 0
    for text in values.astype(str):
        match = _DMY.match(text)
        if match and int(match[1]) <= 12 and match[1] != match[2]:
            count += 1
    return count


def naive_row_join(sales_path: str | Path, messages_path: str | Path) -> NaiveRowJoinResult:
    """Reproduce the published figures from the two exports; returns them with flaw sizes."""
    sales = _read(Path(sales_path), SALES_COLUMNS)
    messages = _read(Path(messages_path), MESSAGE_COLUMNS)

    # Step 1 (flaw: many-to-many join). Every sales line of a phone meets every
    # conversation of that phone; the row order (sales first) fixes the splits below.
    sales = sales.assign(_line=np.arange(len(sales)))
    joined = sales.merge(messages, on="phone_encoded")
    if joined.empty:
        raise InputError(
            "no phone_encoded value is shared with the sales file", file=str(messages_path)
        )

    # Step 2 (flaw: month-first date parse). The workflow parsed dates with pandas'
    # guessing, which swaps day and month in D/M/YY dates with day <= 12. No figure below
    # uses a date, so the swap changes none of them; we count it instead of repeating it.
    misread = {c: _dmy_misread(sales[c]) for c in ("Order_Date", "Return_Date")}

    # Step 3 (flaw: mean imputation). Missing amounts become the mean amount.
    amount = joined["Amount_Including_VAT"].astype(float)
    missing = int(amount.isna().sum())
    amount = amount.fillna(amount.mean())

    # Step 4 (flaw: returns as purchases). Negative amounts stay in as "purchases".
    returns = int((amount < 0).sum())
    response = joined["has_response"].astype(bool)

    # Step 5 (flaw: self-selection ignored). Mean amount per response group, joined rows.
    mean_no, mean_yes = (float(amount[response == v].mean()) for v in (False, True))

    # Step 6 (flaw: standardized coefficients read as effects, R² never shown).
    x = joined[FEATURES].astype(float)
    x_tr, x_te, y_tr, y_te = train_test_split(x, amount, test_size=0.3, random_state=RANDOM_STATE)
    scaler = StandardScaler().fit(x_tr)
    reg = LinearRegression().fit(scaler.transform(x_tr), y_tr)
    r2 = float(reg.score(scaler.transform(x_te), y_te))
    raw = LinearRegression().fit(x_tr, y_tr).coef_

    # Step 7 (flaw: accuracy of a classifier that never predicts the rare class).
    high = (amount > HIGH_AMOUNT).astype(int)
    c_tr, c_te, h_tr, h_te = train_test_split(x, high, test_size=0.2, random_state=RANDOM_STATE)
    c_scaler = StandardScaler().fit(c_tr)
    clf = LogisticRegression().fit(c_scaler.transform(c_tr), h_tr)
    predicted = clf.predict(c_scaler.transform(c_te))
    accuracy = 100.0 * float((predicted == h_te.to_numpy()).mean())
    majority = 100.0 * float((h_te == 0).mean())

    # Without the row multiplication: each sales line once, a phone counted as
    # responding if any of its conversations got a response.
    phone_responded = messages.groupby("phone_encoded")["has_response"].any()
    lines = sales[sales["phone_encoded"].isin(phone_responded.index)]
    line_resp = lines["phone_encoded"].map(phone_responded).astype(bool)
    line_amt = lines["Amount_Including_VAT"].astype(float)
    line_no, line_yes = (float(line_amt[line_resp == v].mean()) for v in (False, True))
    # Without returns: the same joined rows, return lines left out.
    kept = amount >= 0
    nr_no, nr_yes = (float(amount[kept & (response == v)].mean()) for v in (False, True))

    values = {
        "mean_amount_non_responders": mean_no,
        "mean_amount_responders": mean_yes,
        "coef_number_of_messages": float(reg.coef_[0]),
        "coef_has_response": float(reg.coef_[1]),
        "accuracy_pct": accuracy,
    }
    figures = tuple(
        PublishedFigure(
            name,
            label,
            published,
            values[name],
            decimals,
            matches=round(values[name], decimals) == published,
        )
        for name, (label, published, decimals) in PUBLISHED.items()
    )
    flaws = (
        FlawImpact(
            "many-to-many row join",
            f"{len(joined):,} rows from {joined['_line'].nunique():,} sales lines; "
            f"${mean_no:.2f} vs ${mean_yes:.2f}",
            f"each line once: ${line_no:.2f} vs ${line_yes:.2f}",
        ),
        FlawImpact(
            "returns as purchases",
            f"{returns:,} return rows in the means",
            f"without them: ${nr_no:.2f} vs ${nr_yes:.2f}",
        ),
        FlawImpact(
            "standardized coefficients",
            f"{reg.coef_[0]:.4f} and {reg.coef_[1]:.4f} per standard deviation",
            f"${raw[0]:.4f} per message, ${raw[1]:.2f} for responders; test R² {r2:.4f}",
        ),
        FlawImpact(
            '"accuracy" of amount > $100',
            f"{accuracy:.2f}%, predicting over $100 for {predicted.mean():.1%} of rows",
            f"always answering 'not over $100': {majority:.2f}%",
        ),
        FlawImpact(
            "mean imputation",
            f"{missing} missing amounts among the joined rows",
            "no effect on any figure" if missing == 0 else "see the figures",
        ),
        FlawImpact(
            "month-first date parse",
            f"{misread['Order_Date']:,} order and {misread['Return_Date']:,} return dates "
            "(D/M/YY) read with day and month swapped",
            "no published figure uses a date",
        ),
    )
    return NaiveRowJoinResult(
        sales_rows=len(sales),
        message_rows=len(messages),
        joined_rows=len(joined),
        joined_sales_lines=int(joined["_line"].nunique()),
        **values,
        regression_test_r2=r2,
        raw_coef_number_of_messages=float(raw[0]),
        raw_coef_has_response=float(raw[1]),
        classifier_share_predicted_high=float(predicted.mean()),
        majority_class_accuracy_pct=majority,
        missing_amounts_in_join=missing,
        return_lines_in_join=returns,
        dmy_dates_misread=misread,
        mean_amount_per_line_non_responders=line_no,
        mean_amount_per_line_responders=line_yes,
        mean_purchase_no_returns_non_responders=nr_no,
        mean_purchase_no_returns_responders=nr_yes,
        figures=figures,
        flaws=flaws,
    )
