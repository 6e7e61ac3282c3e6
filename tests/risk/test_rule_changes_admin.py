"""Maker-checker on live rules in the admin: saving, adding or deleting a live rule proposes the
change; the proposal's page shows it next to the rule now, and another risk analyst approves it
there (the proposer is not offered the button, and forcing it is refused and audited)."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from apps.accounts import roles
from apps.risk.models import Outcome, Rule, RuleChange, RuleChangeKind, RuleChangeStatus, RuleMode
from apps.risk.rule_changes import rule_change_reject
from tests.risk.factories import RuleFactory
from tests.risk.test_rule_changes import analyst, events, propose_update, rule_state

pytestmark = pytest.mark.django_db

RULES = "/admin/risk/rule/"
CHANGES = "/admin/risk/rulechange/"


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def rule_form(rule, **overrides):
    return {
        "name": rule.name,
        "description": rule.description,
        "expression": rule.expression,
        "outcome": rule.outcome,
        "mode": rule.mode,
        "enabled": "on" if rule.enabled else "",
        **overrides,
    }


def shown_messages(page) -> list[str]:
    return [str(message) for message in get_messages(page.wsgi_request)]


def test_saving_a_live_rule_in_the_admin_proposes_and_another_analyst_approves_it():
    rule = RuleFactory(name="big", expression="amount > 100000")
    maker, checker = analyst(), analyst()
    before = rule_state(rule)

    page = signed_in(maker).post(f"{RULES}{rule.pk}/change/", rule_form(rule, expression="amount > 200000"))

    change = RuleChange.objects.get()
    assert page.status_code == 302 and page.url == f"{CHANGES}{change.pk}/change/"
    assert shown_messages(page) == [
        f"Proposed changing the rule “big” ({change.public_id}), waiting for another risk analyst's approval."
    ]
    assert rule_state(rule) == before
    rule_page = signed_in(maker).get(f"{RULES}{rule.pk}/change/").content.decode()
    assert change.public_id in rule_page  # its pending changes are listed on the rule

    # The proposer sees the proposal but is not offered the approval; forcing it is refused.
    own = signed_in(maker).get(f"{CHANGES}{change.pk}/change/").content.decode()
    assert "amount &gt; 200000" in own and "amount &gt; 100000" in own
    assert "Approve and apply" not in own and "withdraw your proposal" in own
    refused = signed_in(maker).post(f"{CHANGES}{change.pk}/decide/", {"decision": "approve", "note": ""})
    assert "other than the person who proposed it" in shown_messages(refused)[0]
    assert events("risk_rule_change.approval_refused", change).exists()
    assert rule_state(rule) == before

    other = signed_in(checker)
    assert "Approve and apply" in other.get(f"{CHANGES}{change.pk}/change/").content.decode()
    page = other.post(f"{CHANGES}{change.pk}/decide/", {"decision": "approve", "note": "ok"})

    assert page.status_code == 302
    assert shown_messages(page) == [f"Change {change.public_id} to the rule “big” approved and applied."]
    rule.refresh_from_db()
    assert (rule.expression, rule.version) == ("amount > 200000", 2)
    change.refresh_from_db()
    assert (change.status, change.decided_by, change.note) == ("approved", checker, "ok")


def test_adding_and_deleting_a_live_rule_in_the_admin_are_proposals():
    maker = analyst()
    client = signed_in(maker)
    form = {
        "name": "new",
        "description": "",
        "expression": "amount > 1",
        "outcome": "block",
        "mode": "live",
        "enabled": "on",
    }

    page = client.post(f"{RULES}add/", form)

    created = RuleChange.objects.get(kind=RuleChangeKind.CREATE)
    assert page.status_code == 302 and page.url == f"{CHANGES}{created.pk}/change/"
    assert "waiting for another risk analyst's approval" in shown_messages(page)[0]
    assert not Rule.objects.filter(name="new").exists()

    live = RuleFactory()
    page = client.post(f"{RULES}{live.pk}/delete/", {"post": "yes"})
    deletion = RuleChange.objects.get(kind=RuleChangeKind.DELETE)
    assert page.status_code == 302 and page.url == f"{CHANGES}{deletion.pk}/change/"
    assert Rule.objects.filter(pk=live.pk).exists()

    trial, other_live = RuleFactory(mode=RuleMode.LOG_ONLY), RuleFactory()
    page = client.post(
        RULES, {"action": "delete_selected", "_selected_action": [trial.pk, other_live.pk], "post": "yes"}, follow=True
    )
    said = [str(message) for message in page.context["messages"]]
    assert not Rule.objects.filter(pk=trial.pk).exists()
    assert Rule.objects.filter(pk=other_live.pk).exists()
    assert RuleChange.objects.filter(kind=RuleChangeKind.DELETE, rule=other_live).exists()
    assert any("Deleted 1 rule" in message for message in said)
    assert not any("Successfully deleted" in message for message in said)


def test_the_rule_changes_list_shows_pending_first_and_the_auditor_only_reads(staff_client):
    rule = RuleFactory()
    decided = propose_update(rule, analyst(), outcome=Outcome.BLOCK)
    rule_change_reject(change=decided, approver=analyst())
    pending = propose_update(rule, analyst(), outcome=Outcome.ALLOW)

    listing = signed_in(analyst()).get(CHANGES)
    assert [change.pk for change in listing.context["cl"].result_list] == [pending.pk, decided.pk]

    auditor = staff_client(roles.AUDITOR)
    page = auditor.get(f"{CHANGES}{pending.pk}/change/")
    assert page.status_code == 200 and "Approve and apply" not in page.content.decode()
    assert auditor.post(f"{CHANGES}{pending.pk}/decide/", {"decision": "approve"}).status_code == 403
    assert auditor.get(f"{CHANGES}add/").status_code == 403
    assert staff_client(roles.OPS).get(CHANGES).status_code == 403
    pending.refresh_from_db()
    assert pending.status == RuleChangeStatus.PENDING
