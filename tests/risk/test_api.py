"""/api/v1/risk/lists: a merchant's own allow and block lists. Values normalised as the model
does, bad input a 400 envelope with nothing stored, duplicates answered with the entry there,
writes idempotent and audited, other merchants' and deployment-wide entries invisible, secret
keys only; and a merchant's entry decides that merchant's assessments."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from apps.merchants.services import api_key_create
from apps.risk.assessment import risk_assess
from apps.risk.models import ListAction, ListEntry, ListKind, Outcome, Rule
from tests.api.test_errors import assert_envelope
from tests.risk.factories import ListEntryFactory

pytestmark = pytest.mark.django_db

LISTS = "/api/v1/risk/lists"
FINGERPRINT = "fp_gk44levidsvr2er6wgfyihuyk3ec25ke"
PANS = ["4111111111111111", "4111 1111 1111 1111", "5424-0000-0000-0015"]


def add(api, key=None, **fields):
    body = {"kind": "email", "action": "block", "value": "fraud@example.com", **fields}
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return api.post(LISTS, body, format="json", **headers)


def stored():
    return (ListEntry.objects.count(), AuditEvent.objects.filter(action__startswith="risk_list_entry.").count())


@pytest.mark.parametrize(
    ("kind", "given", "value"),
    [
        (ListKind.EMAIL, " Fraud@Example.COM ", "fraud@example.com"),
        (ListKind.EMAIL_DOMAIN, "@Mailinator.com", "mailinator.com"),
        (ListKind.IP, "203.0.113.7", "203.0.113.7/32"),
        (ListKind.IP, "203.0.113.77/24", "203.0.113.0/24"),
        (ListKind.IP, "2001:DB8::1", "2001:db8::1/128"),
        (ListKind.CARD_FINGERPRINT, FINGERPRINT.upper(), FINGERPRINT),
        (ListKind.CUSTOMER, "cus_123", "cus_123"),
    ],
)
def test_an_entry_is_created_normalised_and_audited_as_the_api_key(api, api_key, merchant, kind, given, value):
    expires = (timezone.now() + timedelta(days=30)).replace(microsecond=0)

    response = add(api, kind=kind, value=given, reason="chargebacks", expires_at=expires.isoformat())

    body = response.json()
    assert response.status_code == 201, body
    assert body["id"].startswith("rle_")
    assert {k: v for k, v in body.items() if k not in {"id", "created_at", "expires_at"}} == {
        "object": "risk_list_entry", "kind": kind, "action": "block", "value": value, "reason": "chargebacks",
    }  # fmt: skip
    entry = ListEntry.objects.get(public_id=body["id"])
    assert (entry.merchant, entry.value, entry.expires_at, entry.created_by) == (merchant, value, expires, None)
    audit = AuditEvent.objects.get(action="risk_list_entry.added", target_id=body["id"])
    assert (audit.actor_type, audit.actor_id, audit.merchant_id) == ("api_key", api_key.api_key.public_id, merchant.pk)
    assert audit.after["value"] == value
    assert audit.correlation_id == response["X-Request-ID"]


def test_list_filter_and_page_the_merchants_own_entries(api, other_merchant):
    email = add(api).json()
    ip = add(api, kind="ip", value="198.51.100.0/24").json()
    allowed = add(api, kind="ip", action="allow", value="198.51.100.9").json()
    ListEntryFactory(merchant=other_merchant, value="theirs@example.com")
    ListEntryFactory(merchant=None, value="everyone@example.com")  # deployment-wide: staff's, not listed

    everything = api.get(LISTS).json()
    assert (everything["object"], everything["has_more"], everything["next"], everything["previous"]) == (
        "list", False, None, None,
    )  # fmt: skip
    assert [e["id"] for e in everything["data"]] == [allowed["id"], ip["id"], email["id"]]  # newest first
    assert [e["id"] for e in api.get(LISTS, {"kind": "ip"}).json()["data"]] == [allowed["id"], ip["id"]]
    assert [e["id"] for e in api.get(LISTS, {"action": "block"}).json()["data"]] == [ip["id"], email["id"]]
    assert [e["id"] for e in api.get(LISTS, {"kind": "ip", "action": "block"}).json()["data"]] == [ip["id"]]

    first = api.get(LISTS, {"limit": 2}).json()
    assert first["has_more"] is True and [e["id"] for e in first["data"]] == [allowed["id"], ip["id"]]
    second = api.get(first["next"]).json()
    assert second["has_more"] is False and [e["id"] for e in second["data"]] == [email["id"]]


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ({"kind": "colour"}, "kind"),
        ({"action": "maybe"}, "action"),
        ({"kind": "4111111111111111"}, "kind"),
        ({"kind": ""}, "kind"),
        ({"limit": 0}, "limit"),
        ({"value": "a@example.com"}, "value"),
    ],
)
def test_a_bad_list_query_is_a_400_that_echoes_nothing(api, query, param):
    response = api.get(LISTS, query)

    body = response.json()
    assert response.status_code == 400, body
    assert body["error"]["param"] == param
    assert "4111111111111111" not in response.content.decode()


def test_retrieve_and_delete_an_entry(api, merchant):
    entry = add(api, kind="email_domain", value="example.net").json()

    assert api.get(f"{LISTS}/{entry['id']}").json() == entry
    deleted = api.delete(f"{LISTS}/{entry['id']}", HTTP_IDEMPOTENCY_KEY="delete-1")

    assert deleted.status_code == 204
    assert not ListEntry.objects.filter(public_id=entry["id"]).exists()
    removed = AuditEvent.objects.get(action="risk_list_entry.removed", target_id=entry["id"])
    assert (removed.merchant_id, removed.before["value"]) == (merchant.pk, "example.net")
    replayed = api.delete(f"{LISTS}/{entry['id']}", HTTP_IDEMPOTENCY_KEY="delete-1")
    assert (replayed.status_code, replayed["Idempotent-Replayed"]) == (204, "true")
    assert_envelope(
        api.get(f"{LISTS}/{entry['id']}"), status=404, error_type="invalid_request_error", code="resource_missing",
        param="id",
    )  # fmt: skip
    assert AuditEvent.objects.filter(action="risk_list_entry.removed").count() == 1


def test_a_post_replayed_with_its_idempotency_key_makes_one_entry(api):
    first = add(api, key="block-fraud-1")
    again = add(api, key="block-fraud-1")

    assert (first.status_code, again.status_code) == (201, 201)
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert stored() == (1, 1)
    reused = add(api, key="block-fraud-1", value="other@example.com")
    assert_envelope(
        reused, status=422, error_type="idempotency_error", code="idempotency_key_reused", param="Idempotency-Key"
    )
    assert stored() == (1, 1)


def test_a_duplicate_answers_200_with_the_entry_there_unchanged(api):
    first = add(api, reason="first").json()

    again = add(api, value="FRAUD@example.com", reason="second", expires_at="2099-01-01T00:00:00Z")

    assert again.status_code == 200
    assert again.json() == first
    assert stored() == (1, 1)
    other_list = add(api, action="allow")
    assert other_list.status_code == 201 and other_list.json()["id"] != first["id"]


def test_the_same_value_on_another_merchants_or_the_deployments_list_is_not_a_duplicate(api, other_merchant):
    theirs = ListEntryFactory(merchant=other_merchant, value="fraud@example.com")
    everyone = ListEntryFactory(merchant=None, value="fraud@example.com")

    response = add(api)

    assert response.status_code == 201
    assert response.json()["id"] not in {theirs.public_id, everyone.public_id}


@pytest.mark.parametrize(
    ("fields", "param", "code"),
    [
        ({"value": "not-an-email"}, "value", "parameter_invalid"),
        ({"value": "a@@example.com"}, "value", "parameter_invalid"),
        ({"kind": "ip", "value": "300.1.1.1"}, "value", "parameter_invalid"),
        ({"kind": "ip", "value": "10.0.0.0/33"}, "value", "parameter_invalid"),
        ({"kind": "email_domain", "value": "nodot"}, "value", "parameter_invalid"),
        ({"kind": "card_fingerprint", "value": "fp_abc123"}, "value", "parameter_invalid"),
        ({"kind": "customer", "value": "cus 123"}, "value", "parameter_invalid"),
        ({"kind": "colour"}, "kind", "parameter_invalid"),
        ({"action": "review"}, "action", "parameter_invalid"),
        ({"expires_at": "2020-01-01T00:00:00Z"}, "expires_at", "parameter_invalid"),
        ({"expires_at": "tomorrow"}, "expires_at", "parameter_invalid"),
        ({"value": ""}, "value", "parameter_missing"),
        ({"value": "x" * 250 + "@example.com"}, "value", "parameter_invalid"),
        ({"reason": "r" * 256}, "reason", "parameter_invalid"),
        ({"value": None}, "value", "parameter_missing"),
        ({"livemode": True}, "livemode", "parameter_unknown"),
    ],
)
def test_invalid_input_is_a_400_envelope_and_nothing_is_stored(api, fields, param, code):
    before = stored()

    response = add(api, key="bad-1", **fields)

    assert_envelope(response, status=400, error_type="invalid_request_error", code=code, param=param)
    assert stored() == before
    if code != "parameter_unknown":  # the answers docs/api.md names as not kept under the key
        assert add(api, key="bad-1").status_code == 201


def test_kind_action_and_value_are_required(api):
    response = api.post(LISTS, {"reason": "no value"}, format="json")

    body = assert_envelope(
        response, status=400, error_type="invalid_request_error", code="parameter_missing", param="kind"
    )
    assert [detail["param"] for detail in body["error"]["details"]] == ["kind", "action", "value"]
    assert stored() == (0, 0)


@pytest.mark.parametrize("pan", PANS)
@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"kind": "card_fingerprint", "value": "{pan}"}, "value"),
        ({"kind": "email", "value": "{pan}@example.com"}, "value"),
        ({"kind": "customer", "value": "cus_{pan}"}, "value"),
        ({"reason": "stolen card {pan}"}, "reason"),
    ],
)
def test_a_card_number_anywhere_is_refused_and_never_echoed_nor_stored(api, pan, fields, param):
    before = stored()
    filled = {name: value.replace("{pan}", pan) for name, value in fields.items()}

    response = add(api, key="pan-1", **filled)

    body = assert_envelope(
        response, status=400, error_type="invalid_request_error", code="parameter_invalid", param=param
    )
    assert "card number" in body["error"]["message"]
    assert pan not in response.content.decode() and pan.replace(" ", "") not in response.content.decode()
    assert stored() == before


def test_another_merchants_entry_is_not_found(api, other_merchant):
    theirs = ListEntryFactory(merchant=other_merchant)
    everyone = ListEntryFactory(merchant=None)

    for entry in (theirs, everyone):
        for response in (api.get(f"{LISTS}/{entry.public_id}"), api.delete(f"{LISTS}/{entry.public_id}")):
            assert_envelope(
                response, status=404, error_type="invalid_request_error", code="resource_missing", param="id"
            )
    assert ListEntry.objects.filter(pk__in=[theirs.pk, everyone.pk]).count() == 2
    assert not AuditEvent.objects.filter(action="risk_list_entry.removed").exists()


def test_a_delete_takes_no_body(api):
    entry = add(api).json()

    response = api.delete(f"{LISTS}/{entry['id']}", {"force": True}, format="json")

    assert_envelope(response, status=400, error_type="invalid_request_error", code="parameter_unknown", param="force")
    assert ListEntry.objects.filter(public_id=entry["id"]).exists()


def test_a_publishable_key_is_refused(merchant, client_for):
    issued = api_key_create(merchant=merchant, mode="test", kind="publishable", actor=Actor.system("tests"))
    publishable = client_for(issued.secret)
    entry = ListEntryFactory(merchant=merchant)
    before = stored()

    for response in (
        publishable.get(LISTS),
        add(publishable),
        publishable.get(f"{LISTS}/{entry.public_id}"),
        publishable.delete(f"{LISTS}/{entry.public_id}"),
    ):
        assert_envelope(response, status=403, error_type="permission_error", code="permission_denied")
    assert stored() == before


def test_a_merchants_entry_decides_its_own_assessments_only(api, merchant, other_merchant):
    Rule.objects.filter(built_in=True).update(enabled=False)
    attempt = {"amount": 5000, "currency": "USD", "email": "Fraud@Example.com", "ip": "192.0.2.1"}
    assert risk_assess(attempt, merchant_id=merchant.pk).outcome == Outcome.ALLOW

    entry = add(api).json()

    decided = risk_assess(attempt, merchant_id=merchant.pk)
    assert (decided.outcome, [m.id for m in decided.matched]) == (Outcome.BLOCK, [entry["id"]])
    assert risk_assess(attempt, merchant_id=other_merchant.pk).outcome == Outcome.ALLOW
    api.delete(f"{LISTS}/{entry['id']}")
    assert risk_assess(attempt, merchant_id=merchant.pk).outcome == Outcome.ALLOW


def test_an_expired_entry_stays_listed_but_decides_nothing(api, merchant):
    entry = ListEntryFactory(
        merchant=merchant, kind=ListKind.EMAIL, action=ListAction.BLOCK, value="fraud@example.com",
        expires_at=timezone.now() - timedelta(minutes=1),
    )  # fmt: skip
    Rule.objects.filter(built_in=True).update(enabled=False)

    assert [e["id"] for e in api.get(LISTS).json()["data"]] == [entry.public_id]
    attempt = {"amount": 5000, "currency": "USD", "email": "fraud@example.com"}
    assert risk_assess(attempt, merchant_id=merchant.pk).outcome == Outcome.ALLOW


def test_the_lists_are_in_the_openapi_document(client, settings):
    settings.API_DOCS_PUBLIC = True

    paths = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()["paths"]

    operations = {**paths[LISTS], **{f"{m} one": op for m, op in paths[f"{LISTS}/{{entry_id}}"].items()}}
    assert {name: op["tags"] for name, op in operations.items() if isinstance(op, dict) and "tags" in op} == {
        "get": ["risk"], "post": ["risk"], "get one": ["risk"], "delete one": ["risk"],
    }  # fmt: skip
    for write in (operations["post"], operations["delete one"]):
        assert any(p["name"] == "Idempotency-Key" for p in write["parameters"])
    assert {"200", "201", "400", "403", "409"} <= set(operations["post"]["responses"])
    assert {p["name"] for p in operations["get"]["parameters"]} == {"kind", "action", "limit", "cursor"}
