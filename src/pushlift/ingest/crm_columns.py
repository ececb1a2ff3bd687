"""Canonical column names of the two CRM exports and the `--map` option that renames them.

Defaults are the headers of the reference exports (`../shared/data/mercaux/`). Another
vendor's headers are mapped with `canonical=column` (both files) or
`sales.canonical=column` / `messages.canonical=column` (one file).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pushlift.errors import PushliftError

SALES_DEFAULTS: dict[str, str] = {
    "phone": "phone_encoded",
    "customer_id": "Customer_id_encoded",
    "amount": "Amount_Including_VAT",
    "order_date": "Order_Date",
    "return_date": "Return_Date",
    "location": "location_encoded",
    "transaction_id": "transaction_id_encoded",
}
MESSAGES_DEFAULTS: dict[str, str] = {
    "phone": "phone_encoded",
    "n_messages": "number_of_messages",
    "has_response": "has_response",
    "conversation_id": "id of conversation",
    "contact_date": "date_of_communication",
    "location": "location_encoded",
}
FILES = {"sales": SALES_DEFAULTS, "messages": MESSAGES_DEFAULTS}


def parse_column_map(items: Iterable[str]) -> dict[str, dict[str, str]]:
    """Per file ('sales', 'messages'), the canonical -> file column mapping to use.

    Raises PushliftError for a malformed item or an unknown canonical name.
    """
    maps = {kind: dict(defaults) for kind, defaults in FILES.items()}
    for item in items:
        key, sep, column = item.partition("=")
        key, column = key.strip(), column.strip()
        if not sep or not key or not column:
            raise PushliftError(f"--map {item!r}: expected canonical=column, e.g. amount=Total")
        kind, dot, name = key.rpartition(".")
        kinds = [kind] if dot else [k for k, d in FILES.items() if name in d]
        if dot and kind not in FILES:
            raise PushliftError(f"--map {item!r}: the file must be 'sales' or 'messages'")
        if not kinds or any(name not in FILES[k] for k in kinds):
            known = "; ".join(f"{k}: {', '.join(d)}" for k, d in FILES.items())
            raise PushliftError(
                f"--map {item!r}: unknown column {name!r}; canonical names are {known}"
            )
        for k in kinds:
            maps[k][name] = column
    for kind, mapping in maps.items():
        _check_distinct(kind, mapping)
    return maps


def _check_distinct(kind: str, mapping: Mapping[str, str]) -> None:
    seen: dict[str, str] = {}
    for name, column in mapping.items():
        if column in seen:
            raise PushliftError(
                f"--map: {kind} columns {seen[column]!r} and {name!r} both map to {column!r}"
            )
        seen[column] = name
