"""Maker-checker on live rules: a change that touches a live rule is a proposal until another risk
analyst approves it (applied through the rule services in the approval's transaction); the
proposer's own approval is refused and audited; a proposal against an older version is
superseded; changes to rules that are not live apply at once. The admin's side:
test_rule_changes_admin.py."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.forms.models import model_to_dict

from apps.accounts import roles
from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from apps.core.errors import ConflictError
from apps.risk.errors import RuleChangeNotAllowed, RuleChangeStale, RuleChangeStateError, SelfApprovalRefused
from apps.risk.models import Outcome, Rule, RuleChange, RuleChangeKind, RuleChangeStatus, RuleMode
from apps.risk.rule_changes import (
    RuleSubmitted,
    rule_change_approve,
    rule_change_propose,
    rule_change_reject,
    rule_change_submit,
)
from apps.risk.services import rule_delete, rule_update
from tests.accounts.factories import StaffUserFactory
from tests.payments.test_races import run_parallel
from tests.risk.factories import RuleFactory

pytestmark = pytest.mark.django_db


def analyst():
    return StaffUserFactory(roles=[roles.RISK])


def events(action, target):
    return AuditEvent.objects.filter(action=action, target_id=target.public_id)


def rule_state(rule):
    return model_to_dict(Rule.objects.get(pk=rule.pk))


def propose_update(rule, user, **fields):
    return rule_change_propose(kind=RuleChangeKind.UPDATE, rule=rule, fields=fields, proposed_by=user)


def test_a_live_rules_change_is_a_proposal_and_the_rule_is_unchanged_until_approved():
    rule = RuleFactory(expression="amount > 100", outcome=Outcome.REVIEW)
    maker = analyst()
    before = rule_state(rule)

    submitted = rule_change_submit(
        kind=RuleChangeKind.UPDATE, rule=rule, fields={"expression": " amount > 200 ", "outcome": "review"}, user=maker
    )

    change = submitted.change
    assert change is not None and change.public_id.startswith("rcg_")
    assert (change.kind, change.status, change.rule, change.rule_version) == ("update", "pending", rule, 1)
    assert change.fields == {"expression": "amount > 200"}  # only what changes, as it would be stored
    assert (change.proposed_by, change.decided_by, change.decided_at) == (maker, None, None)
    assert rule_state(rule) == before
    proposed = events("risk_rule_change.proposed", change).get()
    assert proposed.actor_id == str(maker.pk)
    assert proposed.before == {"expression": "amount > 100"}
    assert proposed.after == {"kind": "update", "rule": rule.public_id, "rule_version": 1, "fields": change.fields}
    assert not events("risk_rule.updated", rule).exists()


def test_approval_by_another_analyst_applies_the_change_in_the_same_transaction():
    rule = RuleFactory(expression="amount > 100", outcome=Outcome.REVIEW)
    maker, checker = analyst(), analyst()
    change = propose_update(rule, maker, expression="amount > 200", outcome=Outcome.BLOCK)

    approved = rule_change_approve(change=change, approver=checker, note="looks right")

    rule.refresh_from_db()
    assert (rule.expression, rule.outcome, rule.version) == ("amount > 200", Outcome.BLOCK, 2)
    approved.refresh_from_db()
    assert (approved.status, approved.decided_by, approved.note) == ("approved", checker, "looks right")
    assert approved.decided_at is not None
    updated = events("risk_rule.updated", rule).get()
    assert (updated.actor_id, updated.before["version"], updated.after["version"]) == (str(checker.pk), 1, 2)
    decision = events("risk_rule_change.approved", change).get()
    assert decision.actor_id == str(checker.pk)
    assert decision.after["proposed_by"] == maker.username
    assert (decision.after["rule"], decision.after["rule_version"], decision.after["note"]) == (
        rule.public_id,
        2,
        "looks right",
    )
    assert decision.pk > updated.pk  # one transaction: the change, then its approval


@pytest.mark.django_db(transaction=True)
def test_the_proposer_approving_their_own_change_is_refused_and_audited_with_nothing_changed():
    rule = RuleFactory(expression="amount > 100")
    maker = analyst()
    change = propose_update(rule, maker, expression="amount > 200")
    before = (rule_state(rule), model_to_dict(RuleChange.objects.get(pk=change.pk)))
    last_event = AuditEvent.objects.latest("id").pk

    with pytest.raises(SelfApprovalRefused, match="other than the person who proposed it"):
        rule_change_approve(change=change, approver=maker, note="mine")

    assert (rule_state(rule), model_to_dict(RuleChange.objects.get(pk=change.pk))) == before
    (event,) = AuditEvent.objects.filter(pk__gt=last_event)
    assert (event.action, event.target_type, event.target_id, event.actor_id) == (
        "risk_rule_change.approval_refused",
        "risk.rulechange",
        change.public_id,
        str(maker.pk),
    )
    assert event.after["note"] == "mine"
    assert "other than the person who proposed it" in event.after["reason"]


def test_a_rejected_change_leaves_the_rule_and_cannot_be_approved_afterwards():
    rule = RuleFactory(expression="amount > 100")
    change = propose_update(rule, analyst(), expression="amount > 200")
    checker = analyst()
    before = rule_state(rule)

    rejected = rule_change_reject(change=change, approver=checker, note="too broad")

    assert (rejected.status, rejected.decided_by, rejected.note) == ("rejected", checker, "too broad")
    assert events("risk_rule_change.rejected", change).get().after["note"] == "too broad"
    with pytest.raises(RuleChangeStateError, match="rejected"):
        rule_change_approve(change=change, approver=analyst())
    assert rule_state(rule) == before


def test_the_proposer_may_withdraw_their_own_change():
    rule = RuleFactory()
    maker = analyst()
    change = propose_update(rule, maker, outcome=Outcome.BLOCK)

    rule_change_reject(change=change, approver=maker, note="withdrawn")

    change.refresh_from_db()
    assert (change.status, change.decided_by) == ("rejected", maker)


def test_a_proposal_against_an_older_version_is_superseded_and_changes_nothing():
    rule = RuleFactory(expression="amount > 100")
    first = propose_update(rule, analyst(), expression="amount > 200")
    second = propose_update(rule, analyst(), expression="amount > 300")
    rule_change_approve(change=first, approver=analyst())
    before = rule_state(rule)

    with pytest.raises(RuleChangeStale, match="version 1, it is at version 2 now"):
        rule_change_approve(change=second, approver=analyst())

    second.refresh_from_db()
    assert second.status == RuleChangeStatus.SUPERSEDED
    assert "propose the change again" in second.note
    assert rule_state(rule) == before
    assert events("risk_rule_change.superseded", second).get().after["reason"] == second.note
    assert not events("risk_rule_change.approved", second).exists()


def test_a_proposal_for_a_rule_deleted_since_is_superseded():
    rule = RuleFactory(name="gone")
    change = propose_update(rule, analyst(), outcome=Outcome.BLOCK)
    rule_update(rule=rule, changes={"mode": RuleMode.LOG_ONLY}, actor=Actor.system("tests"))
    rule_delete(rule=rule, actor=Actor.system("tests"))

    with pytest.raises(RuleChangeStale, match="'gone' was deleted"):
        rule_change_approve(change=change, approver=analyst())

    change.refresh_from_db()
    assert (change.status, change.rule, change.rule_name) == ("superseded", None, "gone")


@pytest.mark.parametrize(
    ("rule_kwargs", "fields"),
    [
        ({"mode": RuleMode.LOG_ONLY}, {"expression": "amount > 500"}),
        ({"mode": RuleMode.LOG_ONLY}, {"enabled": False}),
        ({"mode": RuleMode.LIVE, "enabled": False}, {"expression": "amount > 500", "outcome": Outcome.BLOCK}),
        ({"mode": RuleMode.LOG_ONLY, "enabled": False}, {"enabled": True}),
    ],
)
def test_changes_to_rules_that_are_not_live_and_stay_so_apply_at_once(rule_kwargs, fields):
    rule = RuleFactory(**rule_kwargs)

    submitted = rule_change_submit(kind=RuleChangeKind.UPDATE, rule=rule, fields=fields, user=analyst())

    assert submitted.change is None
    rule.refresh_from_db()
    assert {name: getattr(rule, name) for name in fields} == fields
    assert rule.version == 2
    assert events("risk_rule.updated", rule).exists()
    assert not RuleChange.objects.exists()


@pytest.mark.parametrize(
    ("rule_kwargs", "fields"),
    [
        ({"mode": RuleMode.LOG_ONLY}, {"mode": RuleMode.LIVE}),
        ({"mode": RuleMode.LIVE, "enabled": False}, {"enabled": True}),
        ({"mode": RuleMode.LIVE}, {"enabled": False}),  # switching a live rule off is a change to it too
    ],
)
def test_making_a_rule_live_or_switching_a_live_one_off_needs_approval(rule_kwargs, fields):
    rule = RuleFactory(**rule_kwargs)
    before = rule_state(rule)

    submitted = rule_change_submit(kind=RuleChangeKind.UPDATE, rule=rule, fields=fields, user=analyst())

    assert submitted.change is not None and submitted.change.fields == fields
    assert rule_state(rule) == before
    rule_change_approve(change=submitted.change, approver=analyst())
    rule.refresh_from_db()
    assert ({name: getattr(rule, name) for name in fields}, rule.version) == (fields, 2)


def test_a_submission_that_changes_nothing_proposes_nothing():
    rule = RuleFactory(expression="amount > 100")

    submitted = rule_change_submit(
        kind=RuleChangeKind.UPDATE, rule=rule, fields={"expression": "amount > 100"}, user=analyst()
    )

    assert (submitted.rule, submitted.change) == (rule, None)
    assert not RuleChange.objects.exists()
    with pytest.raises(ValidationError, match="changes nothing"):
        propose_update(rule, analyst(), expression="amount > 100")


def test_creating_a_live_rule_needs_approval():
    fields = {"name": "Big", "expression": "amount > 5000", "outcome": Outcome.BLOCK}
    maker, checker = analyst(), analyst()

    submitted = rule_change_submit(kind=RuleChangeKind.CREATE, fields=fields, user=maker)

    change = submitted.change
    assert submitted.rule is None and change is not None
    assert (change.kind, change.rule, change.rule_version, change.rule_name) == ("create", None, None, "Big")
    assert change.fields == {**fields, "description": "", "mode": "live", "enabled": True}
    assert not Rule.objects.filter(name="Big").exists()

    rule_change_approve(change=change, approver=checker)

    rule = Rule.objects.get(name="Big")
    change.refresh_from_db()
    assert (change.rule, change.status, rule.mode, rule.version) == (rule, "approved", "live", 1)
    assert events("risk_rule.created", rule).get().actor_id == str(checker.pk)


@pytest.mark.parametrize("extra", [{"mode": RuleMode.LOG_ONLY}, {"enabled": False}])
def test_creating_a_rule_that_is_not_live_applies_at_once(extra):
    submitted = rule_change_submit(
        kind=RuleChangeKind.CREATE,
        fields={"name": "Try", "expression": "amount > 5000", "outcome": Outcome.BLOCK, **extra},
        user=analyst(),
    )

    assert submitted.change is None and submitted.rule is not None
    assert events("risk_rule.created", submitted.rule).exists()
    assert not RuleChange.objects.exists()


def test_deleting_a_live_rule_needs_approval_and_a_log_only_one_goes_at_once():
    live, trial = RuleFactory(), RuleFactory(mode=RuleMode.LOG_ONLY)

    assert rule_change_submit(kind=RuleChangeKind.DELETE, rule=trial, user=analyst()) == RuleSubmitted(None, None)
    assert not Rule.objects.filter(pk=trial.pk).exists()
    change = rule_change_submit(kind=RuleChangeKind.DELETE, rule=live, user=analyst()).change
    assert change is not None and (change.kind, change.fields) == ("delete", {})
    assert Rule.objects.filter(pk=live.pk).exists()

    rule_change_approve(change=change, approver=analyst())

    assert not Rule.objects.filter(pk=live.pk).exists()
    change.refresh_from_db()
    assert (change.status, change.rule, change.rule_name) == ("approved", None, live.name)
    assert events("risk_rule.deleted", live).exists()
    assert events("risk_rule_change.approved", change).get().after["rule"] == live.public_id


def test_deleting_a_built_in_rule_cannot_even_be_proposed():
    built_in = Rule.objects.get(name="Card testing")

    with pytest.raises(ConflictError, match="built-in"):
        rule_change_submit(kind=RuleChangeKind.DELETE, rule=built_in, user=analyst())

    assert not RuleChange.objects.exists()


def test_expressions_are_validated_when_proposed_and_again_when_approved():
    rule = RuleFactory(expression="amount > 100")
    with pytest.raises(ValidationError, match="Unknown attribute"):
        propose_update(rule, analyst(), expression="colour == 'red'")
    assert not RuleChange.objects.exists()

    change = propose_update(rule, analyst(), expression="amount > 200")
    # What compiled when proposed may not compile when approved (an attribute renamed meanwhile).
    RuleChange.objects.filter(pk=change.pk).update(fields={"expression": "colour == 'red'"})
    before = rule_state(rule)

    with pytest.raises(ValidationError, match="Unknown attribute"):
        rule_change_approve(change=change, approver=analyst())

    change.refresh_from_db()
    assert change.status == RuleChangeStatus.PENDING
    assert rule_state(rule) == before
    assert not events("risk_rule_change.approved", change).exists()


def test_deciding_needs_the_risk_analyst_role():
    change = propose_update(RuleFactory(), analyst(), outcome=Outcome.BLOCK)
    auditor = StaffUserFactory(roles=[roles.AUDITOR])

    for decide in (rule_change_approve, rule_change_reject):
        with pytest.raises(RuleChangeNotAllowed):
            decide(change=change, approver=auditor)

    change.refresh_from_db()
    assert change.status == RuleChangeStatus.PENDING


# --- two approvers at once ---------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_approvers_at_once_apply_the_change_once():
    rule = RuleFactory(expression="amount > 100")
    change = propose_update(rule, analyst(), expression="amount > 200")
    approvers = [analyst() for _ in range(4)]

    results = run_parallel(4, lambda i: rule_change_approve(change=change, approver=approvers[i]))

    approved = [result for result in results if isinstance(result, RuleChange)]
    refused = [result for result in results if isinstance(result, RuleChangeStateError)]
    assert (len(approved), len(refused)) == (1, 3), results
    rule.refresh_from_db()
    assert (rule.expression, rule.version) == ("amount > 200", 2)
    assert events("risk_rule.updated", rule).count() == 1
    assert events("risk_rule_change.approved", change).count() == 1
    change.refresh_from_db()
    assert change.decided_by == approved[0].decided_by
