"""The risk admin: forms refuse bad expressions and values (a form error, never a 500, nothing
saved); saves and deletes go through the audited services; the roles see what they should."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from apps.accounts import roles
from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from apps.risk.built_in import BUILT_IN_RULES, built_in_rules_install
from apps.risk.models import ListEntry, ListKind, Outcome, Rule, RuleChange, RuleChangeKind
from apps.risk.rule_changes import rule_change_approve, rule_change_submit
from tests.accounts.factories import StaffUserFactory
from tests.merchants.factories import MerchantFactory
from tests.risk.factories import ListEntryFactory, RuleFactory

pytestmark = pytest.mark.django_db

RULES = "/admin/risk/rule/"
ENTRIES = "/admin/risk/listentry/"


def rule_form(**overrides):
    return {
        "name": "big",
        "description": "",
        "expression": "amount > 100000",
        "outcome": Outcome.REVIEW,
        "mode": "live",
        "enabled": "on",
        **overrides,
    }


@pytest.mark.parametrize(
    ("expression", "message"),
    [("amount >", "Syntax error"), ("colour == 'red'", "Unknown attribute"), ("amount_usd > 5", "may be unknown")],
)
def test_adding_a_rule_with_a_bad_expression_shows_a_form_error(staff_client, expression, message):
    client = staff_client(roles.RISK)
    before = (Rule.objects.count(), AuditEvent.objects.filter(action__startswith="risk_").count())

    page = client.post(f"{RULES}add/", rule_form(expression=expression))

    assert page.status_code == 200
    assert message in page.context["adminform"].form.errors["expression"][0]
    assert (Rule.objects.count(), AuditEvent.objects.filter(action__startswith="risk_").count()) == before


def test_changing_a_rule_to_a_bad_expression_shows_a_form_error(staff_client):
    client = staff_client(roles.RISK)
    rule = RuleFactory(name="big", expression="amount > 100000")

    page = client.post(f"{RULES}{rule.pk}/change/", rule_form(expression="amount >>> 1"))

    assert page.status_code == 200
    assert page.context["adminform"].form.errors["expression"]
    rule.refresh_from_db()
    assert (rule.expression, rule.version) == ("amount > 100000", 1)


def test_adding_and_changing_a_rule_go_through_the_audited_services(staff_client):
    # Log-only: applied at once (a live rule's changes wait for approval, tests/risk/test_rule_changes.py).
    client = staff_client(roles.RISK)

    page = client.post(f"{RULES}add/", rule_form(mode="log_only"))
    assert page.status_code == 302
    rule = Rule.objects.get(name="big")
    created = AuditEvent.objects.get(action="risk_rule.created", target_id=rule.public_id)
    assert created.actor_id == str(client.user.pk)

    page = client.post(f"{RULES}{rule.pk}/change/", rule_form(mode="log_only", expression="amount > 200000"))
    assert page.status_code == 302
    rule.refresh_from_db()
    assert (rule.expression, rule.version) == ("amount > 200000", 2)
    assert AuditEvent.objects.filter(action="risk_rule.updated", target_id=rule.public_id).count() == 1


def test_a_built_in_rule_can_be_disabled_but_not_deleted(staff_client):
    client = staff_client(roles.RISK)
    rule = Rule.objects.get(name="Card testing")

    assert client.get(f"{RULES}{rule.pk}/delete/").status_code == 403
    page = client.post(f"{RULES}{rule.pk}/change/", rule_form(name=rule.name, expression=rule.expression, enabled=""))
    assert page.status_code == 302
    # Live: disabling it is a proposal until another risk analyst approves it.
    change = RuleChange.objects.get(rule=rule)
    rule_change_approve(change=change, approver=StaffUserFactory(roles=[roles.RISK]))

    rule.refresh_from_db()
    assert (rule.enabled, rule.version) == (False, 2)


def test_deleting_rules_from_the_list_refuses_built_in_ones_and_audits_the_rest(staff_client):
    client = staff_client(roles.RISK)
    own = RuleFactory(mode="log_only")
    built_in = Rule.objects.get(name="Card testing")

    mixed = {"action": "delete_selected", "_selected_action": [own.pk, built_in.pk], "post": "yes"}
    assert client.post(RULES, mixed).status_code == 403
    assert Rule.objects.filter(pk__in=[own.pk, built_in.pk]).count() == 2

    client.post(RULES, {"action": "delete_selected", "_selected_action": [own.pk], "post": "yes"})
    assert not Rule.objects.filter(pk=own.pk).exists()
    assert AuditEvent.objects.filter(action="risk_rule.deleted", target_id=own.public_id).exists()


def test_a_list_entry_added_in_the_admin_is_normalised_and_audited(staff_client):
    client = staff_client(roles.RISK)

    page = client.post(
        f"{ENTRIES}add/", {"kind": ListKind.IP, "action": "block", "value": "203.0.113.9/24", "reason": "botnet"}
    )

    assert page.status_code == 302
    entry = ListEntry.objects.get()
    assert (entry.value, entry.created_by) == ("203.0.113.0/24", client.user)
    assert AuditEvent.objects.filter(action="risk_list_entry.added", target_id=entry.public_id).exists()


@pytest.mark.parametrize(("value", "error"), [("not an ip", "not an IP address"), ("203.0.113.0/24", "already exists")])
def test_a_bad_or_duplicate_list_value_is_a_form_error(staff_client, value, error):
    ListEntryFactory(kind=ListKind.IP, action="block", value="203.0.113.0/24")
    client = staff_client(roles.RISK)

    page = client.post(f"{ENTRIES}add/", {"kind": ListKind.IP, "action": "block", "value": value, "reason": ""})

    assert page.status_code == 200
    assert error in str(page.context["adminform"].form.errors)
    assert ListEntry.objects.count() == 1


def test_list_entries_are_removed_through_the_service(staff_client):
    client = staff_client(roles.RISK)
    entry = ListEntryFactory()

    page = client.post(f"{ENTRIES}{entry.pk}/delete/", {"post": "yes"})

    assert page.status_code == 302
    assert not ListEntry.objects.exists()
    assert AuditEvent.objects.filter(action="risk_list_entry.removed", target_id=entry.public_id).exists()


@pytest.mark.parametrize(
    ("role", "path", "status"),
    [
        (roles.RISK, f"{RULES}add/", 200),
        (roles.RISK, f"{ENTRIES}add/", 200),
        (roles.AUDITOR, RULES, 200),
        (roles.AUDITOR, ENTRIES, 200),
        (roles.AUDITOR, f"{RULES}add/", 403),
        (roles.OPS, RULES, 403),
    ],
)
def test_who_may_see_and_change_the_risk_pages(staff_client, role, path, status):
    RuleFactory()
    ListEntryFactory()

    assert staff_client(role).get(path).status_code == status


def test_a_list_entry_for_one_merchant_is_added_shown_and_filtered_in_the_admin(staff_client):
    shop = MerchantFactory(slug="shop")
    ListEntryFactory(value="everyone@example.com")
    client = staff_client(roles.RISK)

    page = client.post(
        f"{ENTRIES}add/", {"merchant": shop.pk, "kind": ListKind.EMAIL, "action": "block", "value": "Own@Example.com"}
    )

    assert page.status_code == 302
    entry = ListEntry.objects.get(merchant=shop)
    assert entry.value == "own@example.com"
    assert AuditEvent.objects.get(action="risk_list_entry.added", target_id=entry.public_id).merchant_id == shop.pk
    listing = client.get(ENTRIES).content.decode()
    assert "All merchants" in listing and "shop" in listing
    mine = client.get(ENTRIES, {"merchant__id__exact": shop.pk}).context["cl"].result_list
    assert [e.value for e in mine] == ["own@example.com"]
    everyone = client.get(ENTRIES, {"scope": "all"}).context["cl"].result_list
    assert [e.value for e in everyone] == ["everyone@example.com"]


def test_the_same_value_may_be_on_a_merchants_list_and_the_deployments(staff_client):
    shop = MerchantFactory()
    ListEntryFactory(kind=ListKind.IP, action="block", value="203.0.113.0/24")
    client = staff_client(roles.RISK)
    form = {"merchant": shop.pk, "kind": ListKind.IP, "action": "block", "value": "203.0.113.0/24", "reason": ""}

    assert client.post(f"{ENTRIES}add/", form).status_code == 302
    duplicate = client.post(f"{ENTRIES}add/", form)

    assert duplicate.status_code == 200
    assert "already exists" in str(duplicate.context["adminform"].form.errors)
    assert ListEntry.objects.count() == 2


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("value", "4111 1111 1111 1111", "card number"),
        ("reason", "card 4111111111111111", "card number"),
        ("expires_at_0", "2020-01-01", "future"),
    ],
)
def test_card_numbers_and_past_expiry_are_form_errors(staff_client, field, value, error):
    client = staff_client(roles.RISK)
    form = {"kind": ListKind.CARD_FINGERPRINT, "action": "block", "value": "fp_" + "a" * 32, "reason": ""}
    form[field] = value
    if field == "expires_at_0":
        form["expires_at_1"] = "00:00:00"

    page = client.post(f"{ENTRIES}add/", form)

    assert page.status_code == 200
    assert error in str(page.context["adminform"].form.errors)
    assert "4111" not in str(page.context["adminform"].form.errors)
    assert not ListEntry.objects.exists()


def test_an_allow_range_wider_than_a_24_is_a_form_error(staff_client):
    """Before: the service's refusal came out of save_model, a 500."""
    client = staff_client(roles.RISK)

    page = client.post(f"{ENTRIES}add/", {"kind": ListKind.IP, "action": "allow", "value": "10.0.0.0/16", "reason": ""})

    assert page.status_code == 200
    assert "An allow entry covers at most 256 addresses" in str(page.context["adminform"].form.errors)
    assert not ListEntry.objects.exists()


def test_a_built_in_rule_keeps_its_name(staff_client):
    """Renamed, the next migrate installed it again (live, blocking, with its first thresholds, no
    approval); or, with a rule of staff's own under the old name, migrate failed on the unique name."""
    rule = Rule.objects.get(name="Card testing")
    analyst = StaffUserFactory(roles=[roles.RISK])

    with pytest.raises(ValidationError, match="keeps its name"):
        rule_change_submit(kind=RuleChangeKind.UPDATE, rule=rule, fields={"name": "Card testing, tuned"}, user=analyst)
    page = staff_client(roles.RISK).get(f"{RULES}{rule.pk}/change/")
    assert "name" not in page.context["adminform"].form.fields

    Rule.objects.filter(pk=rule.pk).update(name="Renamed before this release")
    RuleFactory(name="Card testing")  # staff's own, under the old name
    assert built_in_rules_install(actor=Actor.system("migrate")) == 0
    assert Rule.objects.filter(built_in=True).count() == len(BUILT_IN_RULES)
