"""The value checks and accepted spellings of the mall export's two files.

Every check has a kind (a stable name, stored with a quarantined row) and a title (how
the report groups it). Values are checked as trimmed text in SQL (`{v}`); the readings
below turn the accepted spellings into the stored codes.
"""

from __future__ import annotations

from pushlift import schema
from pushlift.ingest.csvtext import Check

CONSUMER_COLUMNS = ("consumer_id", "age", "gender", "loyalty_status")
PURCHASE_COLUMNS = ("consumer_id", "from_second_store_sales", "realtime_message")
MAX_SALES_DIGITS = 12  # whole dollars below 10^12 per consumer: far beyond any real week

# Regular expressions (RE2, matched against the whole trimmed value).
DIGITS = "[0-9]+"
_DECIMAL = r"([0-9]+\.?[0-9]*|\.[0-9]+)"
SCIENTIFIC = r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)[eE][+-]?[0-9]+"
_WHOLE = r"[+-]?[0-9]+(\.0*)?"  # 34 or 34.0: a spreadsheet's number format
GENDERS = "F, M, Female or Male (any case)"
LOYALTIES = "1 or 2, 1.0 or 2.0, low or high (any case)"

# The accepted spellings, read as codes (NULL when not accepted).
GENDER_SQL = (
    "CASE upper({v}) WHEN 'F' THEN 'F' WHEN 'FEMALE' THEN 'F' "
    "WHEN 'M' THEN 'M' WHEN 'MALE' THEN 'M' END"
)
LOYALTY_SQL = (
    r"CASE WHEN regexp_full_match({v}, '1(\.0*)?') OR lower({v}) = 'low' THEN 1 "
    r"WHEN regexp_full_match({v}, '2(\.0*)?') OR lower({v}) = 'high' THEN 2 END"
)
MESSAGE_SQL = r"CASE WHEN regexp_full_match({v}, '0(\.0*)?') THEN 0 " + (
    r"WHEN regexp_full_match({v}, '1(\.0*)?') THEN 1 END"
)
AGE_SQL = "try_cast(split_part({v}, '.', 1) AS INTEGER)"

# Spellings other than the codes themselves, counted in the report:
# (column, SQL condition on {v}, how it was written, what it was read as).
SPELLINGS = {
    "consumer": (
        ("gender", "{v} IN ('f', 'm')", "f/m (lower case)", "F/M"),
        ("gender", "upper({v}) IN ('FEMALE', 'MALE')", "Female/Male (any case)", "F/M"),
        ("age", r"regexp_full_match({v}, '[+-]?[0-9]+\.0*')", "a decimal such as 34.0", "years"),
        ("loyalty_status", r"regexp_full_match({v}, '[12]\.0*')", "1.0/2.0", "1/2"),
        ("loyalty_status", "lower({v}) IN ('low', 'high')", "low/high (any case)", "1/2"),
    ),
    "purchase": (
        ("realtime_message", r"regexp_full_match({v}, '[01]\.0*')", "0.0/1.0", "0/1"),
    ),
}


def _id_checks(column: str) -> tuple[Check, ...]:
    return (
        Check("{v} = ''", lambda v: f"{column} is empty; every row needs an id", "id_empty"),
        Check(
            f"regexp_full_match({{v}}, '{SCIENTIFIC}')",
            lambda v: (
                f"{column} {v!r} is in scientific notation: the id was probably converted to a "
                "number by a spreadsheet and its trailing digits (precision) are lost; re-export "
                f"the file with {column} formatted as text"
            ),
            "id_scientific",
        ),
        Check(
            f"NOT regexp_full_match({{v}}, '{DIGITS}')",
            lambda v: f"{column} must be a positive integer (digits only), got {v!r}",
            "id_not_integer",
        ),
        Check(
            "try_cast({v} AS BIGINT) IS NULL",
            lambda v: f"{column} {v!r} is too large; ids must be at most 9223372036854775807",
            "id_too_large",
        ),
        Check(
            "try_cast({v} AS BIGINT) = 0",
            lambda v: f"{column} must be a positive integer, got {v!r}",
            "id_not_integer",
        ),
    )


CONSUMER_CHECKS: dict[str, tuple[Check, ...]] = {
    "consumer_id": _id_checks("consumer_id"),
    "age": (
        Check("{v} = ''", lambda v: "age is empty; every consumer needs an age", "age_empty"),
        Check(
            f"NOT regexp_full_match({{v}}, '{_WHOLE}') OR {AGE_SQL} IS NULL",
            lambda v: f"age must be a whole number of years, got {v!r}",
            "age_not_whole",
        ),
        Check(
            f"{AGE_SQL} < {schema.MIN_AGE}",
            lambda v: (
                f"age {v} is below {schema.MIN_AGE}: an under-age consumer (the allowed range "
                f"is {schema.MIN_AGE}..{schema.MAX_AGE})"
            ),
            "age_below_18",
        ),
        Check(
            f"{AGE_SQL} > {schema.MAX_AGE}",
            lambda v: f"age {v} is outside the allowed range {schema.MIN_AGE}..{schema.MAX_AGE}",
            "age_above_100",
        ),
    ),
    "gender": (
        Check(
            f"({GENDER_SQL}) IS NULL",
            lambda v: (
                f"{'gender is empty' if v == '' else f'unknown gender {v!r}'}; allowed are "
                f"'F' (female) and 'M' (male), also written {GENDERS}"
            ),
            "gender_unknown",
        ),
    ),
    "loyalty_status": (
        Check(
            f"({LOYALTY_SQL}) IS NULL",
            lambda v: (
                f"loyalty_status must be 1 (low) or 2 (high), also written {LOYALTIES}; "
                f"got {v!r}"
            ),
            "loyalty_unknown",
        ),
    ),
}

PURCHASE_CHECKS: dict[str, tuple[Check, ...]] = {
    "consumer_id": _id_checks("consumer_id"),
    "from_second_store_sales": (
        Check(
            "{v} = ''",
            lambda v: (
                "from_second_store_sales is missing; missing sales are never imputed — "
                "enter 0 for a consumer who bought nothing, or drop the consumer from both files"
            ),
            "sales_missing",
        ),
        Check(
            f"regexp_full_match({{v}}, '-{_DECIMAL}')",
            lambda v: f"impossible value {v!r}: sales cannot be negative",
            "sales_negative",
        ),
        Check(
            f"NOT regexp_full_match({{v}}, '{_DECIMAL}')",
            lambda v: (
                f"from_second_store_sales must be a plain decimal number of dollars such as "
                f"12.30 (no currency symbol, thousands separator or exponent), got {v!r}"
            ),
            "sales_not_decimal",
        ),
        Check(
            r"regexp_full_match({v}, '[0-9]*\.[0-9]{{3,}}')",
            lambda v: f"from_second_store_sales {v!r} has more than 2 decimals (whole cents only)",
            "sales_decimals",
        ),
        Check(
            f"regexp_full_match(ltrim({{v}}, '0'), '[0-9]{{{{{MAX_SALES_DIGITS + 1},}}}}.*')",
            lambda v: (
                f"from_second_store_sales {v!r} is implausibly large (at most "
                f"{MAX_SALES_DIGITS} digits of dollars)"
            ),
            "sales_too_large",
        ),
    ),
    "realtime_message": (
        Check(
            f"({MESSAGE_SQL}) IS NULL",
            lambda v: f"realtime_message must be 0 (control) or 1 (message sent), got {v!r}",
            "message_unknown",
        ),
    ),
}

# How the report names each kind of problem (value checks and the checks across rows).
TITLES = {
    "invalid_row": "wrong number of fields",
    "blank_row": "blank row",
    "id_empty": "consumer_id empty",
    "id_scientific": "consumer_id in scientific notation (spreadsheet damage)",
    "id_not_integer": "consumer_id not a positive integer",
    "id_too_large": "consumer_id too large",
    "id_rounded": "consumer_id rounded to trailing zeros (spreadsheet damage)",
    "id_duplicate": "consumer_id repeated",
    "age_empty": "age empty",
    "age_not_whole": "age not a whole number",
    "age_below_18": f"under-age consumer (age below {schema.MIN_AGE})",
    "age_above_100": f"age above {schema.MAX_AGE}",
    "gender_unknown": "gender not F/M/Female/Male",
    "loyalty_unknown": "loyalty_status not 1/2/low/high",
    "sales_missing": "from_second_store_sales missing",
    "sales_negative": "from_second_store_sales negative",
    "sales_not_decimal": "from_second_store_sales not a plain number",
    "sales_decimals": "from_second_store_sales with more than 2 decimals",
    "sales_too_large": "from_second_store_sales implausibly large",
    "message_unknown": "realtime_message not 0/1",
    "no_purchase_row": "consumer without a purchase row",
    "no_consumer_row": "purchase row without a consumer",
    "untrusted_match": "match that cannot be trusted (only to a damaged id)",
    "partner_set_aside": "its row in the other file was set aside",
}
# Problems between the files: often consequences of a problem within one, so they come last.
MATCHING = ("no_purchase_row", "no_consumer_row", "untrusted_match")
