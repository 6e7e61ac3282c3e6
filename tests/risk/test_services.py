"""Writes of rules and list entries: validated, versioned, audited in the same transaction; a
refused write changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from apps.core.errors import ConflictError
from apps.risk.models import ListAction, ListEntry, ListKind, Outcome, Rule, RuleMode
from apps.risk.services import (
    ListEntryExists,
    list_entry_add,
    list_entry_add_or_get,
    list_entry_remove,
    list_entry_update,
    rule_create,
    rule_delete,
    rule_update,
)
from tests.accounts.factories import StaffUserFactory
from tests.merchants.factories import MerchantFactory
from tests.risk.factories import ListEntryFactory, RuleFactory

pytestmark = pytest.mark.django_db

ACTOR = Actor.system("tests")


def audit_of(obj, action):
    return AuditEvent.objects.filter(action=action, target_id=obj.public_id)


def test_rule_create_stores_and_audits():
    rule = rule_create(
        name=" Big first payment ", expression="(amount_usd ?? 0) > 500000", outcome=Outcome.REVIEW, actor=ACTOR
    )

    assert rule.public_id.startswith("rul_")
    assert (rule.name, rule.version, rule.mode, rule.enabled, rule.built_in) == (
        "Big first payment", 1, RuleMode.LIVE, True, False,
    )  # fmt: skip
    event = audit_of(rule, "risk_rule.created").get()
    assert event.after["expression"] == "(amount_usd ?? 0) > 500000"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"expression": "amount >"}, None),
        ({"expression": "nope > 1"}, None),
        ({"outcome": "explode"}, "outcome"),
        ({"mode": "sometimes"}, "mode"),
        ({"name": "taken"}, "name"),
    ],
)
def test_rule_create_refuses_what_is_not_valid_and_changes_nothing(kwargs, field):
    RuleFactory(name="taken")
    rules, events = Rule.objects.count(), AuditEvent.objects.count()

    with pytest.raises(ValidationError) as raised:
        rule_create(**{"name": "new", "expression": "amount > 1", "outcome": Outcome.BLOCK, **kwargs}, actor=ACTOR)

    if field:
        assert field in raised.value.message_dict
    assert (Rule.objects.count(), AuditEvent.objects.count()) == (rules, events)


def test_rule_update_bumps_the_version_and_audits_before_and_after():
    rule = RuleFactory(expression="amount > 100", outcome=Outcome.REVIEW)

    updated = rule_update(rule=rule, changes={"expression": "amount > 200", "outcome": Outcome.BLOCK}, actor=ACTOR)

    assert updated.version == 2
    rule.refresh_from_db()
    assert (rule.expression, rule.outcome, rule.version) == ("amount > 200", Outcome.BLOCK, 2)
    event = audit_of(rule, "risk_rule.updated").get()
    assert event.before == {"expression": "amount > 100", "outcome": "review", "version": 1}
    assert event.after == {"expression": "amount > 200", "outcome": "block", "version": 2}

    rule_update(rule=rule, changes={"mode": RuleMode.LOG_ONLY}, actor=ACTOR)
    rule.refresh_from_db()
    assert rule.version == 3
    assert audit_of(rule, "risk_rule.updated").count() == 2


def test_rule_update_without_a_change_changes_nothing():
    rule = RuleFactory(expression="amount > 100")

    rule_update(rule=rule, changes={"expression": "amount > 100", "enabled": True}, actor=ACTOR)

    rule.refresh_from_db()
    assert rule.version == 1
    assert not audit_of(rule, "risk_rule.updated").exists()


def test_rule_update_refuses_a_bad_expression_and_changes_nothing():
    rule = RuleFactory(expression="amount > 100")

    with pytest.raises(ValidationError, match="Unknown attribute"):
        rule_update(rule=rule, changes={"expression": "amount > 100 and colour == 'red'"}, actor=ACTOR)
    with pytest.raises(ValueError, match="version"):
        rule_update(rule=rule, changes={"version": 9}, actor=ACTOR)

    rule.refresh_from_db()
    assert (rule.expression, rule.version) == ("amount > 100", 1)
    assert not audit_of(rule, "risk_rule.updated").exists()


def test_rule_delete_audits_and_built_in_rules_cannot_be_deleted():
    rule = RuleFactory()
    rule_delete(rule=rule, actor=ACTOR)
    assert not Rule.objects.filter(pk=rule.pk).exists()
    assert audit_of(rule, "risk_rule.deleted").get().before["expression"] == rule.expression

    built_in = Rule.objects.filter(built_in=True).first()
    with pytest.raises(ConflictError):
        rule_delete(rule=built_in, actor=ACTOR)
    assert Rule.objects.filter(pk=built_in.pk).exists()


@pytest.mark.parametrize(
    ("kind", "given", "stored"),
    [
        (ListKind.EMAIL, "  Someone@Example.COM ", "someone@example.com"),
        (ListKind.EMAIL_DOMAIN, "@Mailinator.com.", "mailinator.com"),
        (ListKind.IP, "203.0.113.7", "203.0.113.7/32"),
        (ListKind.IP, "203.0.113.77/24", "203.0.113.0/24"),
        (ListKind.IP, "2001:DB8:0:0::1", "2001:db8::1/128"),
        (ListKind.CARD_FINGERPRINT, " FP_GK44LEVIDSVR2ER6WGFYIHUYK3EC25KE ", "fp_gk44levidsvr2er6wgfyihuyk3ec25ke"),
        (ListKind.CUSTOMER, "cus_123", "cus_123"),
    ],
)
def test_list_entry_add_normalises_the_value_and_audits(kind, given, stored):
    user = StaffUserFactory()

    entry = list_entry_add(
        kind=kind, action=ListAction.BLOCK, value=given, reason="fraud", created_by=user, actor=ACTOR
    )

    assert entry.public_id.startswith("rle_")
    assert (entry.value, entry.created_by) == (stored, user)
    assert audit_of(entry, "risk_list_entry.added").get().after["value"] == stored


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        (ListKind.EMAIL, "not-an-email"),
        (ListKind.EMAIL, "a@@example.com"),
        (ListKind.CARD_FINGERPRINT, "fp_abc123"),
        (ListKind.CARD_FINGERPRINT, "4111111111111111"),
        (ListKind.CUSTOMER, "cus 4111 1111 1111 1111"),
        (ListKind.EMAIL_DOMAIN, "nodot"),
        (ListKind.IP, "300.1.1.1"),
        (ListKind.IP, "10.0.0.0/33"),
        (ListKind.CUSTOMER, "   "),
        ("colour", "red"),
    ],
)
def test_list_entry_add_refuses_values_that_are_not_of_their_kind(kind, value):
    with pytest.raises(ValidationError):
        list_entry_add(kind=kind, action=ListAction.BLOCK, value=value, actor=ACTOR)

    assert not ListEntry.objects.exists()


def test_the_same_value_twice_on_one_list_is_refused_but_may_be_on_both_lists():
    list_entry_add(kind=ListKind.EMAIL, action=ListAction.BLOCK, value="a@example.com", actor=ACTOR)

    with pytest.raises(ValidationError, match="already"):
        list_entry_add(kind=ListKind.EMAIL, action=ListAction.BLOCK, value="A@example.com", actor=ACTOR)
    list_entry_add(kind=ListKind.EMAIL, action=ListAction.ALLOW, value="a@example.com", actor=ACTOR)

    assert ListEntry.objects.count() == 2


def test_list_entry_update_and_remove_are_audited():
    entry = ListEntryFactory(reason="old")
    expires = timezone.now() + timedelta(days=1)

    list_entry_update(entry=entry, changes={"reason": "new", "expires_at": expires}, actor=ACTOR)
    entry.refresh_from_db()
    assert (entry.reason, entry.expires_at) == ("new", expires)
    assert audit_of(entry, "risk_list_entry.updated").get().before["reason"] == "old"

    with pytest.raises(ValueError, match="value"):
        list_entry_update(entry=entry, changes={"value": "x@example.com"}, actor=ACTOR)

    list_entry_remove(entry=entry, actor=ACTOR)
    list_entry_remove(entry=entry, actor=ACTOR)  # a second click: nothing left to do
    assert not ListEntry.objects.filter(pk=entry.pk).exists()
    assert audit_of(entry, "risk_list_entry.removed").count() == 1


def test_a_value_is_unique_per_merchant_and_deployment_wide_separately():
    shop, other = MerchantFactory(), MerchantFactory()
    email = {"kind": ListKind.EMAIL, "action": ListAction.BLOCK, "value": "a@example.com"}
    deployment_wide = list_entry_add(**email, actor=ACTOR)
    own = list_entry_add(**email, merchant=shop, actor=ACTOR)
    list_entry_add(**email, merchant=other, actor=ACTOR)
    events = AuditEvent.objects.count()

    for merchant in (None, shop):
        with pytest.raises(ListEntryExists) as raised:
            list_entry_add(**{**email, "value": "A@Example.com"}, merchant=merchant, actor=ACTOR)
        assert raised.value.entry == (own if merchant else deployment_wide)

    assert ListEntry.objects.count() == 3
    assert AuditEvent.objects.count() == events
    assert (own.merchant, deployment_wide.merchant) == (shop, None)
    assert audit_of(own, "risk_list_entry.added").get().merchant_id == shop.pk
    assert audit_of(own, "risk_list_entry.added").get().after["merchant"] == shop.public_id


def test_the_database_keeps_one_deployment_wide_entry_per_value():
    ListEntryFactory(kind=ListKind.EMAIL, action=ListAction.BLOCK, value="a@example.com")

    with pytest.raises(IntegrityError), transaction.atomic():
        ListEntryFactory(kind=ListKind.EMAIL, action=ListAction.BLOCK, value="a@example.com")


def test_list_entry_add_or_get_returns_the_entry_there_unchanged():
    shop = MerchantFactory()
    first, created = list_entry_add_or_get(
        merchant=shop, kind=ListKind.IP, action=ListAction.BLOCK, value="203.0.113.7", reason="first", actor=ACTOR
    )
    again, created_again = list_entry_add_or_get(
        merchant=shop, kind=ListKind.IP, action=ListAction.BLOCK, value="203.0.113.7/32", reason="second", actor=ACTOR
    )

    assert (created, created_again) == (True, False)
    assert again == first and again.reason == "first"
    assert audit_of(first, "risk_list_entry.added").count() == 1


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"expires_at": timezone.now() - timedelta(seconds=1)}, "expires_at"),
        ({"reason": "card 4111 1111 1111 1111"}, "reason"),
        ({"value": "4111111111111111@example.com"}, "value"),
    ],
)
def test_list_entry_add_refuses_past_expiry_and_card_numbers(overrides, field):
    with pytest.raises(ValidationError) as raised:
        list_entry_add(
            **{"kind": ListKind.EMAIL, "action": ListAction.BLOCK, "value": "a@example.com", **overrides}, actor=ACTOR
        )

    assert field in raised.value.message_dict
    assert "4111" not in str(raised.value.message_dict)
    assert not ListEntry.objects.exists()
