"""The Stripe OpenAPI validator (tests/sandbox/stripe/openapi.py) is right, and can fail.

Right: every example object Stripe publishes beside its spec (openapi/fixtures3.json of the same commit, the
trimmed copy in stripe_openapi_fixtures.json) for the object types the sandbox returns conforms. Can fail: mutated
copies (a wrong type, a missing required field, a value outside an enum, an invented field, a non-null field set
to null) are each reported, at the right place. Only the committed JSON files are read: no git snapshot needed.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.sandbox.stripe import openapi
from tests.sandbox.stripe.openapi import assert_conforms, schema_for, to_json_schema, violations
from tests.sandbox.stripe.regenerate_openapi_schemas import _dump

HERE = Path(__file__).resolve().parent
SCHEMAS = json.loads((HERE / "stripe_openapi_schemas.json").read_text())
FIXTURES = json.loads((HERE / "stripe_openapi_fixtures.json").read_text())["resources"]
ROOTS = SCHEMAS["metadata"]["roots"]
# The error envelope has no example in fixtures3.json: these follow Stripe's documented errors.
ERRORS: list[dict[str, Any]] = [
    {
        "error": {
            "charge": "ch_3NnlpSGPxmnHQRkJ0fMkDAtq",
            "code": "card_declined",
            "decline_code": "insufficient_funds",
            "doc_url": "https://stripe.com/docs/error-codes/card-declined",
            "message": "Your card has insufficient funds.",
            "request_log_url": "https://dashboard.stripe.com/test/logs/req_1?t=1694107045",
            "type": "card_error",
        }
    },
    {
        "error": {
            "code": "parameter_missing",
            "doc_url": "https://stripe.com/docs/error-codes/parameter-missing",
            "message": "Missing required param: amount.",
            "param": "amount",
            "type": "invalid_request_error",
        }
    },
    {
        "error": {
            "message": "Keys for idempotent requests can only be used with the same parameters.",
            "type": "idempotency_error",
        }
    },
]


def fixture(name: str) -> dict[str, Any]:
    return copy.deepcopy(FIXTURES[name])


def event_about(obj: dict[str, Any], event_type: str) -> dict[str, Any]:
    """Stripe's example event (which carries a `plan`, not an object we return) about one of our objects."""
    event = fixture("event")
    event["data"]["object"] = obj
    event["type"] = event_type
    return event


# --- the committed files ---------------------------------------------------------------------------------------


def test_schemas_record_their_source_and_hold_every_root_and_wrapper() -> None:
    meta = SCHEMAS["metadata"]
    assert meta["source"] == {
        "api_version": "2023-08-16",
        "commit": "63a674638635c68de26b9f3add13e58198f4df44",
        "openapi": "3.0.0",
        "path": "openapi/spec3.yaml",
        "repository": "stripe/openapi",
    }
    assert openapi.api_version() == "2023-08-16"
    for name in [*ROOTS, "list", "search_result"]:
        assert SCHEMAS["schemas"][name], name
    assert set(FIXTURES) == set(ROOTS) - {"error"}  # fixtures3.json has no error envelope
    for name in meta["cut_points"]:
        assert SCHEMAS["schemas"][name] == {}
    assert meta["schema_count"] == len(SCHEMAS["schemas"])


def test_schemas_are_a_closed_set_of_facts_without_prose() -> None:
    kept = set(SCHEMAS["metadata"]["kept_keywords"])
    refs: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            assert set(node) <= kept, set(node) - kept
            if "$ref" in node:
                refs.add(node["$ref"].removeprefix("#/components/schemas/"))
            # allOf would need unevaluatedProperties for the no-unknown-fields rule; Stripe's responses use none.
            assert "allOf" not in node
            for key, value in node.items():
                if key == "properties":
                    for prop in value.values():
                        walk(prop)
                elif key not in {"enum", "required", "x-expandableFields"}:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    for schema in SCHEMAS["schemas"].values():
        walk(schema)
    assert refs <= set(SCHEMAS["schemas"]), refs - set(SCHEMAS["schemas"])


@pytest.mark.parametrize("name", ["stripe_openapi_schemas.json", "stripe_openapi_fixtures.json"])
def test_committed_files_are_in_the_regeneration_scripts_canonical_form(name: str) -> None:
    text = (HERE / name).read_text()
    assert _dump(json.loads(text)) == text
    assert len(text.encode()) < 2_000_000


# --- the translation ---------------------------------------------------------------------------------------------


def test_nullable_is_translated_beside_type_enum_and_anyof() -> None:
    assert to_json_schema({"type": "string", "nullable": True}) == {"type": ["string", "null"]}
    assert to_json_schema({"type": "string", "enum": ["a"], "nullable": True}) == {
        "type": ["string", "null"],
        "enum": ["a", None],
    }
    assert to_json_schema(
        {"anyOf": [{"type": "string"}, {"$ref": "#/components/schemas/customer"}], "nullable": True}
    ) == {"anyOf": [{"type": "string"}, {"$ref": "#/$defs/customer"}, {"type": "null"}]}
    assert to_json_schema({"$ref": "#/components/schemas/address", "nullable": True}) == {
        "anyOf": [{"$ref": "#/$defs/address"}, {"type": "null"}]
    }
    assert to_json_schema({"type": "string"}) == {"type": "string"}


def test_declared_properties_shut_out_other_fields_but_maps_do_not() -> None:
    assert to_json_schema({"type": "object", "properties": {"a": {"type": "string"}}})["additionalProperties"] is False
    metadata = {"type": "object", "additionalProperties": {"type": "string"}}
    assert to_json_schema(metadata) == metadata
    assert to_json_schema({"type": "object"}) == {"type": "object"}


def test_schema_is_chosen_by_the_object_field() -> None:
    assert schema_for(fixture("payment_intent")) == "payment_intent"
    assert schema_for(fixture("deleted_customer")) == "deleted_customer"  # object "customer", deleted: true
    assert schema_for(ERRORS[0]) == "error"
    assert schema_for({"id": "pi_1"}) is None
    assert violations({"id": "pi_1"}) == [
        "$: cannot tell which schema applies (no `object` field): " + json.dumps({"id": "pi_1"})
    ]
    assert violations({"object": "plan", "id": "plan_1"}) == [
        "$: no schema 'plan' (the object types we return are in stripe_openapi_schemas.json)"
    ]


# --- Stripe's own examples conform -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(set(FIXTURES) - {"event"}))
def test_stripes_example_conforms(name: str) -> None:
    obj = fixture(name)
    assert violations(obj) == []
    assert violations(obj, name) == []
    assert_conforms(obj)


def test_stripes_example_event_conforms_about_each_of_our_objects() -> None:
    # Stripe's example event carries a plan, which the sandbox never returns: its envelope conforms, and the
    # validator does look inside it.
    assert violations(fixture("event")) == [
        "$.data.object: no schema 'plan' (the object types we return are in stripe_openapi_schemas.json)"
    ]
    assert violations(fixture("event"), "event") == violations(fixture("event"))
    for name in sorted(set(FIXTURES) - {"event", "deleted_customer"}):
        assert_conforms(event_about(fixture(name), f"{name}.created"))
    assert_conforms(event_about(fixture("deleted_customer"), "customer.deleted"))


@pytest.mark.parametrize("error", ERRORS)
def test_error_envelopes_conform(error: dict[str, Any]) -> None:
    assert_conforms(error)


def test_error_envelope_may_carry_the_failed_payment_intent() -> None:
    error = copy.deepcopy(ERRORS[0])
    error["error"]["payment_intent"] = fixture("payment_intent")
    assert_conforms(error)
    error["error"]["payment_intent"]["invented"] = True
    assert violations(error) == ['$.error.payment_intent: unknown field "invented" (not in the 2023-08-16 schema)']


@pytest.mark.parametrize("name", sorted(set(FIXTURES) - {"deleted_customer"}))
def test_lists_and_search_results_of_our_objects_conform(name: str) -> None:
    obj = fixture(name) if name != "event" else event_about(fixture("charge"), "charge.succeeded")
    page = {"object": "list", "data": [obj, obj], "has_more": False, "url": "/v1/x"}
    assert_conforms(page)
    assert_conforms({"object": "list", "data": [], "has_more": False, "url": "/v1/x"})
    search = {
        "object": "search_result",
        "data": [obj],
        "has_more": True,
        "next_page": "WzE2OTQxMDcwNDVd",
        "total_count": 1,
        "url": "/v1/x/search",
    }
    assert_conforms(search)
    assert_conforms(search | {"next_page": None})


@pytest.mark.parametrize(
    ("name", "field", "expanded"),
    [
        ("payment_intent", "customer", "customer"),
        ("payment_intent", "customer", "deleted_customer"),
        ("payment_intent", "payment_method", "payment_method"),
        ("payment_intent", "latest_charge", "charge"),
        ("setup_intent", "payment_method", "payment_method"),
        ("charge", "balance_transaction", "balance_transaction"),
        ("charge", "payment_intent", "payment_intent"),
        ("refund", "charge", "charge"),
        ("dispute", "charge", "charge"),
        ("payout", "balance_transaction", "balance_transaction"),
    ],
)
def test_expandable_fields_take_an_id_or_the_expanded_object(name: str, field: str, expanded: str) -> None:
    obj = fixture(name)
    assert field in SCHEMAS["schemas"][name]["x-expandableFields"]
    obj[field] = FIXTURES[expanded]["id"]
    assert_conforms(obj)
    obj[field] = fixture(expanded)
    assert_conforms(obj)
    obj[field]["invented"] = 1
    assert violations(obj) == [f'$.{field}: unknown field "invented" (not in the 2023-08-16 schema)']
    obj[field] = 42
    assert violations(obj)


def test_metadata_takes_any_key_but_only_string_values() -> None:
    customer = fixture("customer")
    customer["metadata"] = {"order_id": "6735", "anything at all": "goes"}
    assert_conforms(customer)
    customer["metadata"]["count"] = 3
    assert violations(customer) == ['$.metadata.count: 3 is not of type "string"']


def test_nullable_fields_take_null() -> None:
    intent = fixture("payment_intent")
    intent |= {"cancellation_reason": None, "customer": None, "description": None, "last_payment_error": None}
    assert_conforms(intent)
    intent["cancellation_reason"] = "requested_by_customer"  # a nullable enum takes its values too
    assert_conforms(intent)


# --- mutated copies fail -----------------------------------------------------------------------------------------


def _set(path: list[str | int], value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(obj: dict[str, Any]) -> None:
        target: Any = obj
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return mutate


def _drop(*path: str | int) -> Callable[[dict[str, Any]], None]:
    def mutate(obj: dict[str, Any]) -> None:
        target: Any = obj
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return mutate


MUTATIONS: list[tuple[str, Callable[[dict[str, Any]], None], list[str]]] = [
    # a wrong type
    ("payment_intent", _set(["amount"], "2000"), ['$.amount: "2000" is not of type "integer"']),
    ("charge", _set(["captured"], "true"), ['$.captured: "true" is not of type "boolean"']),
    ("refund", _set(["amount"], 10.5), ['$.amount: 10.5 is not of type "integer"']),
    ("customer", _set(["metadata"], []), ['$.metadata: [] is not of type "object"']),
    (
        "charge",
        _set(["billing_details", "address"], "Main St"),
        ['$.billing_details.address: "Main St" is not of type object | null'],
    ),
    ("payment_intent", _set(["created"], -1), ["$.created: -1 is not a unix-time"]),
    ("payment_intent", _set(["amount"], True), ['$.amount: true is not of type "integer"']),
    # a missing required field
    ("payment_intent", _drop("status"), ['$: missing required field "status"']),
    ("customer", _drop("livemode"), ['$: missing required field "livemode"']),
    (
        "deleted_customer",
        _drop("deleted"),
        ['$: missing required field "created"', '$: missing required field "livemode"'],
    ),
    ("charge", _drop("payment_method_details", "type"), ['$.payment_method_details: missing required field "type"']),
    ("event", _drop("data", "object", "object"), ["$.data.object: cannot tell which schema applies"]),
    # a value outside an enum
    ("payment_intent", _set(["status"], "succeeded_ish"), ['$.status: "succeeded_ish" is not one of']),
    ("payment_intent", _set(["cancellation_reason"], "bored"), ['$.cancellation_reason: "bored" is not one of']),
    ("payout", _set(["type"], "wire"), ['$.type: "wire" is not one of ["bank_account", "card"]']),
    ("payment_method", _set(["object"], "payment_methods"), ["$: no schema 'payment_methods'"]),
    ("payment_method", _set(["type"], "carrier_pigeon"), ['$.type: "carrier_pigeon" is not one of']),
    # an invented field
    ("payment_intent", _set(["risk_score"], 12), ['$: unknown field "risk_score" (not in the 2023-08-16 schema)']),
    (
        "charge",
        _set(["payment_method_details", "card", "checks", "cvv"], "pass"),
        ['$.payment_method_details.card.checks: unknown field "cvv" (not in the 2023-08-16 schema)'],
    ),
    (
        "payment_method",
        _set(["card", "nickname"], "x"),
        ['$.card: unknown field "nickname" (not in the 2023-08-16 schema)'],
    ),
    ("webhook_endpoint", _set(["secret_hash"], "x"), ['$: unknown field "secret_hash" (not in the 2023-08-16 schema)']),
    # a field a newer API version has, which 2023-08-16 lacks
    (
        "payment_intent",
        _set(["payment_method_configuration_details"], None),
        ['$: unknown field "payment_method_configuration_details"'],
    ),
    # a non-null field set to null
    ("payment_intent", _set(["currency"], None), ['$.currency: null, but the field is not nullable (type "string")']),
    ("payment_intent", _set(["capture_method"], None), ["$.capture_method: null, but the field is not nullable"]),
    ("dispute", _set(["charge"], None), ["$.charge: null is not of type string | object"]),
    (
        "balance_transaction",
        _set(["fee_details"], None),
        ['$.fee_details: null, but the field is not nullable (type "array")'],
    ),
    ("event", _set(["livemode"], None), ['$.livemode: null, but the field is not nullable (type "boolean")']),
]


@pytest.mark.parametrize(
    ("name", "mutate", "expected"), MUTATIONS, ids=[f"{i}-{m[0]}" for i, m in enumerate(MUTATIONS)]
)
def test_a_mutated_copy_fails(name: str, mutate: Callable[[dict[str, Any]], None], expected: list[str]) -> None:
    obj = fixture(name) if name != "event" else event_about(fixture("payment_intent"), "payment_intent.succeeded")
    assert violations(obj) == []
    mutate(obj)
    found = violations(obj)
    assert len(found) == len(expected), found
    for line, start in zip(found, expected, strict=True):
        assert line.startswith(start), (line, start)
    with pytest.raises(AssertionError, match="does not conform to Stripe's 2023-08-16 OpenAPI schema"):
        assert_conforms(obj)


def test_a_list_checks_each_item_by_its_own_object() -> None:
    refund = fixture("refund")
    refund["amount"] = "100"
    page = {
        "object": "list",
        "data": [fixture("refund"), refund, fixture("charge")],
        "has_more": False,
        "url": "/v1/refunds",
    }
    assert violations(page) == ['$.data[1].amount: "100" is not of type "integer"']
    del page["has_more"]
    page["total"] = 3
    assert violations(page) == [
        '$: missing required field "has_more"',
        '$: unknown field "total" (not in the 2023-08-16 schema)',
        '$.data[1].amount: "100" is not of type "integer"',
    ]
    assert violations({"object": "search_result", "data": [42], "has_more": False, "url": "/v1/x"}) == [
        '$.data[0]: 42 is not of type "object"',
        "$.data[0]: cannot tell which schema applies (no `object` field): 42",
    ]


def test_an_event_checks_its_object() -> None:
    intent = fixture("payment_intent")
    intent["status"] = "done"
    event = event_about(intent, "payment_intent.succeeded")
    assert violations(event) == [
        '$.data.object.status: "done" is not one of ["canceled", "processing", "requires_action", "requires_capture", "requires_confirmation", "requires_payment_method", "succeeded"]'
    ]


def test_error_envelope_mutations_fail() -> None:
    assert violations({"error": {"type": "card_declined"}}) == [
        '$.error.type: "card_declined" is not one of ["api_error", "card_error", "idempotency_error", "invalid_request_error"]'
    ]
    assert violations({"error": {"message": "no type"}}) == ['$.error: missing required field "type"']
    assert violations({"error": {"type": "api_error", "status": 500}}) == [
        '$.error: unknown field "status" (not in the 2023-08-16 schema)'
    ]
    assert violations({"error": {"type": "api_error"}, "status": 500}) == [
        '$: unknown field "status" (not in the 2023-08-16 schema)'
    ]
    with pytest.raises(AssertionError, match=r"error\s+does not conform"):
        assert_conforms({"error": None})
