"""The shipped JSON Schema for events (engine/event.schema.json) and the engine's event rules
agree: events valid under the schema are accepted (unless refused for a rule the schema's
description states), and invalid ones are refused by both.

The schema is read by a small interpreter of exactly the keywords it uses (a test checks it
uses no others), so no JSON Schema library is needed; where jsonschema_rs happens to be
installed, the interpreter is checked against it too.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pushlift.engine.events import EARLIEST, END
from pushlift.engine.stream import SCHEMA_PATH, events_from_records, read_events
from pushlift.errors import InputError

SCHEMA = json.loads(SCHEMA_PATH.read_text())
PROPS = SCHEMA["properties"]
KNOWN = {
    "$schema", "$id", "title", "description", "examples", "format", "type", "enum", "const",
    "minimum", "maximum", "minLength", "maxLength", "pattern", "required", "properties",
    "additionalProperties", "allOf", "anyOf", "if", "then",
}  # fmt: skip
SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _keywords(node: Any) -> set[str]:
    if isinstance(node, list):
        return set().union(*(_keywords(x) for x in node)) if node else set()
    if not isinstance(node, dict):
        return set()
    found = set(node)
    for key, value in node.items():
        if key == "properties":
            found |= set().union(*(_keywords(v) for v in value.values()))
        elif key not in ("examples", "enum", "const", "required"):
            found |= _keywords(value)
    return found


def _is_type(value: Any, kind: str) -> bool:
    if kind == "null":
        return value is None
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "string":
        return isinstance(value, str)
    if kind == "object":
        return isinstance(value, dict)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if kind == "integer":
        return isinstance(value, int) or value.is_integer()
    return kind == "number"


def valid(node: dict[str, Any], value: Any) -> bool:
    """`value` valid under `node`, for the keywords in KNOWN (format is an annotation)."""
    kinds = node.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if not any(_is_type(value, k) for k in kinds):
            return False
    if "enum" in node and not any(value == e and type(value) is type(e) for e in node["enum"]):
        return False
    if "const" in node and not (value == node["const"] and type(value) is type(node["const"])):
        return False
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in node and not value >= node["minimum"]:
            return False
        if "maximum" in node and not value <= node["maximum"]:
            return False
    if isinstance(value, str):
        if len(value) < node.get("minLength", 0) or len(value) > node.get("maxLength", 1 << 60):
            return False
        # In JSON Schema (ECMA-262) `$` ends the text; in Python it also matches before a
        # final newline.
        pattern = node.get("pattern", "").replace("$", r"\Z")
        if pattern and re.search(pattern, value) is None:
            return False
    if isinstance(value, dict):
        if any(name not in value for name in node.get("required", ())):
            return False
        props = node.get("properties", {})
        for name, sub in props.items():
            if name in value and not valid(sub, value[name]):
                return False
        if node.get("additionalProperties") is False and set(value) - set(props):
            return False
    if not all(valid(sub, value) for sub in node.get("allOf", ())):
        return False
    if "anyOf" in node and not any(valid(sub, value) for sub in node["anyOf"]):
        return False
    return not ("if" in node and valid(node["if"], value) and not valid(node["then"], value))


# Events built from the schema's own bounds, so a changed bound changes what is generated.
def _integer(name: str) -> st.SearchStrategy[int]:
    return st.integers(PROPS[name]["minimum"], PROPS[name]["maximum"])


def _number(name: str) -> st.SearchStrategy[float]:
    p = PROPS[name]
    return st.floats(p["minimum"], p["maximum"], allow_nan=False)


def _text(name: str) -> st.SearchStrategy[str]:
    return st.text(min_size=1, max_size=PROPS[name]["maxLength"])


TIME = st.from_regex(PROPS["time"]["pattern"], fullmatch=True)
OPTIONAL = {
    "lat": st.none() | _number("lat"),
    "lon": st.none() | _number("lon"),
    "vendor_id": st.none() | st.just("") | _text("vendor_id"),
    "amount_cents": st.none() | _integer("amount_cents"),
    "domain": st.none() | st.just("") | _text("domain"),
}


@st.composite
def schema_events(draw: st.DrawFn) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": draw(_integer("event_id")),
        "kind": draw(st.sampled_from(PROPS["kind"]["enum"])),
        "subscriber_id": draw(_integer("subscriber_id")),
        "time": draw(TIME),
    }
    for name, values in OPTIONAL.items():
        if draw(st.booleans()):
            event[name] = draw(values)
    # What each kind needs, so that most drawn events are valid.
    if event["kind"] == "location":
        event["lat"], event["lon"] = draw(_number("lat")), draw(_number("lon"))
    elif event["kind"] == "purchase":
        event["vendor_id"] = draw(_text("vendor_id"))
        event["amount_cents"] = draw(_integer("amount_cents"))
    elif draw(st.booleans()):
        event["domain"] = draw(_text("domain"))
    else:
        event["vendor_id"] = draw(_text("vendor_id"))
    return event


def documented_refusal(event: dict[str, Any]) -> str | None:
    """The field of a rule the schema's description states but cannot express."""
    try:
        moment = datetime.fromisoformat(event["time"])
    except ValueError:  # e.g. 2026-02-30: not a calendar date
        return "time"
    if not EARLIEST <= moment.astimezone(UTC) < END:
        return "time"
    return None


def test_the_schema_uses_only_keywords_the_interpreter_knows() -> None:
    assert _keywords(SCHEMA) <= KNOWN, _keywords(SCHEMA) - KNOWN
    for example in SCHEMA["examples"]:
        assert valid(SCHEMA, example)
        events_from_records([example], "example")


@SETTINGS
@given(events=st.lists(schema_events(), min_size=1, max_size=6, unique_by=lambda e: e["event_id"]))
def test_events_valid_under_the_schema_are_accepted(events: list[dict[str, Any]]) -> None:
    assume(all(valid(SCHEMA, e) for e in events))
    refusals = [documented_refusal(e) for e in events]
    if any(refusals):
        with pytest.raises(InputError) as refused:
            events_from_records(events, "request")
        assert refused.value.column == "time"
        assert refused.value.row == refusals.index("time")
        return
    batch = events_from_records(events, "request")
    assert sorted(batch.event_id.tolist()) == sorted(e["event_id"] for e in events)


def _ndjson(tmp: Path, events: list[dict[str, Any]]) -> Path:
    path = tmp / "events.ndjson"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path


@settings(max_examples=60, deadline=None)
@given(events=st.lists(schema_events(), min_size=1, max_size=4, unique_by=lambda e: e["event_id"]))
def test_schema_valid_files_are_read(events: list[dict[str, Any]]) -> None:
    assume(all(valid(SCHEMA, e) and documented_refusal(e) is None for e in events))
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        batch = read_events(_ndjson(Path(tmp), events))
    assert sorted(batch.event_id.tolist()) == sorted(e["event_id"] for e in events)


# Invalid events: one change to a valid one. Each name says what the change breaks.
def _drop(name: str):
    return lambda e: {k: v for k, v in e.items() if k != name}


def _set(name: str, value: Any):
    return lambda e: {**e, name: value}


MUTATIONS: dict[str, Any] = {
    "no event_id": _drop("event_id"),
    "no kind": _drop("kind"),
    "no subscriber_id": _drop("subscriber_id"),
    "no time": _drop("time"),
    "event_id text": _set("event_id", "x12"),
    "event_id true": _set("event_id", True),
    "event_id fraction": _set("event_id", 1.5),
    "event_id negative": _set("event_id", -1),
    "event_id beyond 2^63-1": _set("event_id", 2**63),
    "subscriber_id null": _set("subscriber_id", None),
    "subscriber_id huge": _set("subscriber_id", 10**30),
    "kind unknown": _set("kind", "walk"),
    "kind a number": _set("kind", 0),
    "time without offset": _set("time", "2026-03-02T10:00:00"),
    "time a date": _set("time", "2026-03-02"),
    "time words": _set("time", "yesterday"),
    "time a number": _set("time", 1767225600),
    "lat text": _set("lat", "north"),
    "lat 91": _set("lat", 91.0),
    "lon -181": _set("lon", -181),
    "lat true": _set("lat", True),
    "amount negative": _set("amount_cents", -5),
    "amount fraction": _set("amount_cents", 19.99),
    "amount beyond 10^12": _set("amount_cents", 10**12 + 1),
    "vendor_id too long": _set("vendor_id", "v" * 257),
    "domain a list": _set("domain", ["a.example"]),
    "unknown field": _set("colour", "red"),
}
NEEDS = {  # a kind's required fields, removed
    "location": ["lat", "lon"],
    "purchase": ["vendor_id", "amount_cents"],
    "site_visit": ["domain", "vendor_id"],
}
LOCATION = {"event_id": 5, "kind": "location", "subscriber_id": 7,
            "time": "2026-03-02T10:00:00Z", "lat": 40.0, "lon": -3.7}  # fmt: skip
PURCHASE = {"event_id": 6, "kind": "purchase", "subscriber_id": 7,
            "time": "2026-03-02T10:00:00+01:00", "vendor_id": "v1",
            "amount_cents": 999}  # fmt: skip
VISIT = {"event_id": 7, "kind": "site_visit", "subscriber_id": 7,
         "time": "2026-03-02T10:00:00.5Z", "domain": "v1.example", "vendor_id": "v1"}  # fmt: skip


def _refused_by_engine(event: dict[str, Any], tmp: Path) -> InputError:
    """The engine's refusal through an NDJSON file (the strictest way in: it also refuses
    unknown fields) and, for known fields, through `events_from_records` (HTTP)."""
    with pytest.raises(InputError) as by_file:
        read_events(_ndjson(tmp, [event]))
    assert by_file.value.row == 1
    if set(event) <= set(PROPS):
        with pytest.raises(InputError):
            events_from_records([event], "request")
    return by_file.value


@pytest.mark.parametrize("change", sorted(MUTATIONS))
@pytest.mark.parametrize("base", [LOCATION, PURCHASE, VISIT], ids=["location", "purchase", "visit"])
def test_invalid_events_are_refused_by_both(tmp_path: Path, base: dict, change: str) -> None:
    assert valid(SCHEMA, base)
    events_from_records([base], "request")
    event = MUTATIONS[change](base)
    assert not valid(SCHEMA, event), change
    refused = _refused_by_engine(event, tmp_path)
    words = change.split()
    field = (words[1] if words[0] == "no" else words[0]).replace("amount", "amount_cents")
    if field in PROPS:
        assert refused.column == field, str(refused)


@pytest.mark.parametrize("base", [LOCATION, PURCHASE, VISIT], ids=["location", "purchase", "visit"])
def test_what_a_kind_needs_is_required_by_both(tmp_path: Path, base: dict) -> None:
    needed = NEEDS[base["kind"]]
    cases = [needed] if base["kind"] == "site_visit" else [[n] for n in needed]
    for names in cases:  # a site visit needs one of the two: remove both
        for empty in (None, ""):
            event = {k: (empty if k in names else v) for k, v in base.items()}
            assert not valid(SCHEMA, event), (names, empty)
            refused = _refused_by_engine(event, tmp_path)
            assert refused.column in names


@settings(max_examples=150, deadline=None)
@given(event=schema_events(), change=st.sampled_from(sorted(MUTATIONS)))
def test_mutated_random_events_are_refused_by_both(event: dict[str, Any], change: str) -> None:
    assume(valid(SCHEMA, event) and documented_refusal(event) is None)
    mutated = MUTATIONS[change](event)
    assume(not valid(SCHEMA, mutated))
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        _refused_by_engine(mutated, Path(tmp))


def test_a_repeated_event_id_is_refused() -> None:
    with pytest.raises(InputError, match="duplicate event id 5") as refused:
        events_from_records([LOCATION, {**PURCHASE, "event_id": 5}], "request")
    assert refused.value.column == "event_id"


def test_the_time_range_is_what_the_schema_states() -> None:
    assert "1970-01-01T00:00:00Z to 2200-12-31T23:59:59Z" in SCHEMA["description"]
    for time, ok in [
        ("1970-01-01T00:00:00Z", True),
        ("2200-12-31T23:59:59Z", True),
        ("1969-12-31T23:59:59Z", False),
        ("1970-01-01T00:30:00+01:00", False),  # 1969 in UTC: the pattern allows it
        ("2200-12-31T23:30:00-01:00", False),  # 2201 in UTC
        ("2201-01-01T00:00:00Z", False),
    ]:
        event = {**LOCATION, "time": time}
        if ok:
            events_from_records([event], "request")
        else:
            with pytest.raises(InputError, match="out of range") as refused:
                events_from_records([event], "request")
            assert refused.value.column == "time"


def test_the_schema_agrees_with_the_http_model() -> None:
    """EventIn (serve/events_endpoint.py) is the HTTP model of the same event."""
    from pushlift.serve.events_endpoint import EventIn

    http = EventIn.model_json_schema()
    assert set(http["properties"]) == set(PROPS)
    assert set(http["required"]) == set(SCHEMA["required"])
    assert http.get("additionalProperties") is False
    assert set(http["properties"]["kind"]["enum"]) == set(PROPS["kind"]["enum"])

    def bounds(p: dict) -> tuple:
        options = p.get("anyOf", [p])
        found = [(o.get("minimum"), o.get("maximum"), o.get("maxLength")) for o in options]
        return next((b for b in found if any(x is not None for x in b)), (None, None, None))

    for name in ("event_id", "subscriber_id", "amount_cents", "lat", "lon", "vendor_id", "domain"):
        mine = PROPS[name]
        assert bounds(http["properties"][name]) == (
            mine.get("minimum"),
            mine.get("maximum"),
            mine.get("maxLength"),
        ), name


def test_the_interpreter_matches_a_json_schema_library() -> None:
    jsonschema_rs = pytest.importorskip("jsonschema_rs")
    checker = jsonschema_rs.validator_for(SCHEMA)
    samples = [LOCATION, PURCHASE, VISIT] + [m(b) for m in MUTATIONS.values()
                                             for b in (LOCATION, PURCHASE, VISIT)]  # fmt: skip
    for sample in samples:
        assert checker.is_valid(sample) == valid(SCHEMA, sample), sample
