"""The OpenAPI description is the contract (issue 11): Schemathesis against a live server.

One real `pushlift serve` for the module; its /openapi.json is loaded and every operation
in it is run with a write key and all of Schemathesis' default checks: no server error,
documented status codes, content types and response schemas, schema-valid requests
accepted and schema-invalid ones refused, authentication enforced, undeclared methods
answered 405 with the right Allow. Its examples, coverage and fuzzing phases run; bounded
and deterministic: a fixed seed, derandomized, 30 fuzzed examples per operation.

Some rules of the service cannot be written as JSON Schema, so the description states them
in words. Generated requests are made to keep them, as a client that read the description
would, touching only values that are valid so that a schema-invalid request stays invalid:
- an event dated more than --max-skew (5 minutes) ahead of the clock is refused (422):
  events are dated in the past;
- event ids are unique within a batch (a repeated id is 422): batches get distinct ids;
- a config item's body `id`, if given, is the path's: bodies use the path's.
And a config change must validate as a whole (references between sections, unique ids,
simple polygons...): a schema-valid change refused with 422 for one of these stated rules
passes; any other refusal fails, as Schemathesis' positive_data_acceptance would.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

import pytest
import requests
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import ignored_auth, positive_data_acceptance

from pushlift.serve.events_endpoint import TIME_PATTERN

from .service_process import CONFIG, Service, new_store

STREAM = "/v1/notifications/stream"
MAX_EXAMPLES = 30
LONG_POLL_S = 0.2  # the feed's `wait` may be up to 30 s; in this run at most this
SESSION = requests.Session()  # one keep-alive connection; no proxies from the environment
SESSION.trust_env = False
AUTH_ENFORCED: set[str] = set()  # operations whose auth was confirmed
LAST = {"operation": ""}

# Schemathesis 4.32's lazy pytest loader (`from_fixture`) reads and renames the running
# test through `Node._nodeid`, which pytest 9.2 no longer has. Reading is all it needs;
# the rename only decorates reports (each operation is a labelled subtest anyway).
if not hasattr(pytest.Function, "_nodeid"):
    pytest.Function._nodeid = property(  # type: ignore[attr-defined]
        lambda self: self.nodeid, lambda self, value: None
    )


@pytest.fixture(scope="module")
def keyed_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Service, str]]:
    folder = tmp_path_factory.mktemp("contract")
    db, config, write, _read = new_store(folder)
    service = Service(db, "--config", config, key=write, log=folder / "serve.log")
    yield service, write
    assert service.stop() == 0


@pytest.fixture(scope="module")
def service(keyed_service: tuple[Service, str]) -> Service:
    return keyed_service[0]


@pytest.fixture(scope="module")
def contract(keyed_service: tuple[Service, str]) -> schemathesis.BaseSchema:
    service, key = keyed_service
    config = SchemathesisConfig.from_dict(
        {
            "seed": 11,
            "generation": {
                "max-examples": MAX_EXAMPLES,
                "deterministic": True,
                "database": "none",
            },
            # The key both ways the description declares: a Bearer token, X-API-Key.
            "auth": {"openapi": {"bearer": {"bearer": key}, "apiKey": {"api_key": key}}},
            "request-timeout": 30,
        }
    )
    return schemathesis.openapi.from_url(f"{service.url}/openapi.json", config=config)


# The SSE stream never ends, so no answer of it could be read whole and validated: it is
# left out here, and tested below with a short read.
schema = schemathesis.pytest.from_fixture("contract").exclude(path=STREAM)


@schema.parametrize()
def test_every_operation_keeps_the_openapi_contract(
    case: schemathesis.Case, service: Service
) -> None:
    if case.operation.label != LAST["operation"]:
        # Each operation starts from the test config: the random configs an operation
        # leaves (zones all over the globe) would make every later change slow to compile.
        LAST["operation"] = case.operation.label
        assert service.client.put("/v1/config", json=CONFIG).status_code == 200
    _keep_the_stated_rules(case)
    case.call_and_validate(
        session=SESSION,
        excluded_checks=[positive_data_acceptance, ignored_auth],
        additional_checks=[schema_valid_requests_are_accepted, auth_is_enforced],
    )


def test_the_notification_stream_answers_server_sent_events(service: Service) -> None:
    with service.client.stream("GET", STREAM, params={"after": "0:0"}) as answer:
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/event-stream")
    bad = service.client.get(STREAM, params={"after": "yesterday"})
    assert bad.status_code == 422
    assert bad.json()["detail"]["field"] == "after"
    anonymous = service.client.get(STREAM, headers={"authorization": ""})
    assert anonymous.status_code == 401


def _keep_the_stated_rules(case: schemathesis.Case) -> None:
    if isinstance(case.query, dict) and LONG_POLL_S < _number(case.query.get("wait")) <= 30:
        case.query["wait"] = LONG_POLL_S  # a shorter long-poll, still a valid one
    body, path = case.body, case.operation.path
    if path == "/v1/events" and isinstance(body, dict):
        _dated_in_the_past(body)
    elif path == "/v1/events/batch" and isinstance(body, dict):
        events = body.get("events")
        events = [e for e in events if isinstance(e, dict)] if isinstance(events, list) else []
        seen: set[int] = set()
        free = 0  # the next id to try for a repeated one (a batch may hold 10,000)
        for event in events:
            _dated_in_the_past(event)
            given = _id(event.get("event_id"))
            if given is not None:
                if given in seen:
                    while free in seen:
                        free += 1
                    event["event_id"] = given = free
                seen.add(given)
    elif case.method == "PUT" and path.endswith("/{item_id}") and isinstance(body, dict):
        given = body.get("id")
        if isinstance(given, str) and given:  # path parameters are kept percent-encoded
            body["id"] = unquote(case.path_parameters["item_id"])


def _dated_in_the_past(event: dict[str, Any]) -> None:
    when = event.get("time")
    if not isinstance(when, str) or not re.fullmatch(TIME_PATTERN, when):
        return
    try:
        moment = datetime.fromisoformat(when)
    except ValueError:  # a day the month does not have: `format` makes it invalid
        return
    past = datetime.now(UTC) - timedelta(minutes=1)
    if moment > past:
        event["time"] = past.isoformat().replace("+00:00", "Z")


def _id(value: object) -> int | None:
    """A valid event id (JSON Schema's integer: 7.0 is 7), or None."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63:
        return value
    return None


def _number(value: object) -> float:
    """A query value as sent (text, or a number), or NaN."""
    try:
        return float(value) if isinstance(value, str | int | float) else math.nan
    except ValueError:
        return math.nan


# The rules a config change must keep beyond its schema (CONFIG_RULES in serve/api.py), as
# the engine's config checks word them.
STATED_CONFIG_RULES = re.compile(
    "|".join(
        [
            r"^unknown (vendor|zone|segment|offer) ",
            r"^duplicate id ",
            r"^vendor .* has no domain$",
            r"^needs a trigger: ",
            r"^give either a 'zone' or a first_purchase_of_trip segment, not both$",
            r"^must be after valid_from$",
            r"^offer .* is already in experiment ",
            r"^arm names must be unique$",
            r"polygon",  # not simple, too few distinct points, too wide, too small
        ]
    )
)


def schema_valid_requests_are_accepted(
    ctx: Any, response: Any, case: schemathesis.Case
) -> bool | None:
    """positive_data_acceptance, where a config change refused for a stated rule passes."""
    config_change = case.method in ("PUT", "DELETE")
    if config_change and response.status_code == 422 and _stated_rule(response.json()):
        return None
    return positive_data_acceptance(ctx, response, case)


def _stated_rule(answer: dict[str, Any]) -> bool:
    return bool(STATED_CONFIG_RULES.search(answer["detail"]["error"]))


def auth_is_enforced(ctx: Any, response: Any, case: schemathesis.Case) -> bool | None:
    """ignored_auth (no key, or a wrong one, is refused), confirmed once per operation as
    Schemathesis' own runner does; under pytest it would probe again after every 2xx."""
    ctx.auth_enforced_operations = AUTH_ENFORCED
    return ignored_auth(ctx, response, case)
