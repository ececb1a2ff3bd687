"""Small anonymised mall exports with the damage real ones have, built here (no big files).

`damaged_export` writes the kind of export issue 12 describes: 12-digit consumer ids, six
of them rounded by a spreadsheet to three shared values, purchase ids in scientific
notation (three matching only a rounded consumer id, one matching none), a purchase file
listing only buyers, an under-age consumer who bought, and genders and loyalty written in
words and decimals. `Expected` says what the report must find.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CONSUMER_HEADER = "consumer_id,age,gender,loyalty_status"
PURCHASE_HEADER = "consumer_id,from_second_store_sales,realtime_message"
GENDERS = ("F", "M", "Female", "Male", "female", "MALE")
LOYALTIES = ("1", "2", "2.0", "low", "High", "1.0")
ROUNDED = ("603223000000",) * 3 + ("603224000000",) * 2 + ("603225000000",)
HONEST = 50  # consumers with intact ids, rows 2..51
UNDER_AGE = 8  # the consumer (index) aged 14; a buyer


def honest_id(i: int) -> int:
    """Intact 12-digit ids; none ends in more than two zeros."""
    return 480001234567 + 1000003 * i


@dataclass(frozen=True)
class Expected:
    consumer_rows: int
    purchase_rows: int
    rounded_rows: int
    rounded_values: int
    scientific_rows: int
    scientific_matching_none: int
    untrusted_matches: int
    under_age_row: int
    spelled_genders: int  # Female/Male in any case
    lower_case_genders: int  # f/m
    loyalty_decimals: int
    loyalty_words: int
    buyers: dict[str, int]  # arm -> listed buyers (every purchase row has a readable arm)
    buyer_ids: dict[int, str]  # intact buyer id -> arm
    buyer_sales_cents: dict[int, int]


def damaged_export(folder: Path) -> tuple[Path, Path, Expected]:
    folder.mkdir(parents=True, exist_ok=True)
    consumers = [CONSUMER_HEADER]
    for i in range(HONEST):
        age = 14 if i == UNDER_AGE else 20 + i
        consumers.append(
            f"{honest_id(i)},{age},{GENDERS[i % len(GENDERS)]},{LOYALTIES[i % len(LOYALTIES)]}"
        )
    for j, rounded in enumerate(ROUNDED):
        consumers.append(f"{rounded},{30 + j},F,1")
    purchases = [PURCHASE_HEADER]
    buyer_ids: dict[int, str] = {}
    sales: dict[int, int] = {}
    for k, i in enumerate(range(0, HONEST, 4)):  # every fourth consumer bought again
        arm = "message" if k % 3 else "control"
        cents = 1234 + 517 * k
        buyer_ids[honest_id(i)] = arm
        sales[honest_id(i)] = cents
        purchases.append(f"{honest_id(i)},{cents // 100}.{cents % 100:02d},{int(arm == 'message')}")
    damaged = ("6.03223E+11", "6.03223E+11", "6.03224E+11", "7.10001E+11")
    for k, written in enumerate(damaged):
        purchases.append(f"{written},{20 + k}.50,{k % 2}")
    c, p = folder / "consumer.csv", folder / "purchase.csv"
    c.write_text("\n".join(consumers) + "\n")
    p.write_text("\n".join(purchases) + "\n")
    listed = {"message": 0, "control": 0}
    for arm in buyer_ids.values():
        listed[arm] += 1
    for k in range(len(damaged)):
        listed["message" if k % 2 else "control"] += 1
    genders = [GENDERS[i % len(GENDERS)] for i in range(HONEST)]
    loyalties = [LOYALTIES[i % len(LOYALTIES)] for i in range(HONEST)]
    return c, p, Expected(
        consumer_rows=HONEST + len(ROUNDED),
        purchase_rows=len(buyer_ids) + len(damaged),
        rounded_rows=len(ROUNDED),
        rounded_values=len(set(ROUNDED)),
        scientific_rows=len(damaged),
        scientific_matching_none=1,
        untrusted_matches=3,
        under_age_row=UNDER_AGE + 2,
        spelled_genders=sum(g.upper() in ("FEMALE", "MALE") for g in genders),
        lower_case_genders=sum(g in ("f", "m") for g in genders),
        loyalty_decimals=sum(v in ("2.0", "1.0") for v in loyalties),
        loyalty_words=sum(v.lower() in ("low", "high") for v in loyalties),
        buyers=listed,
        buyer_ids=buyer_ids,
        buyer_sales_cents=sales,
    )
