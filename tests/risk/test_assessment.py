"""risk_assess: the lists first (allow beats block, expired entries never match), then the rules
(block > review > request_3ds > allow; log-only rules recorded, never acting)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.audit.actors import Actor
from apps.risk.assessment import Level, risk_assess
from apps.risk.models import ListAction, ListKind, Outcome, Rule, RuleMode
from apps.risk.services import rule_create, rule_delete, rule_update
from tests.merchants.factories import MerchantFactory
from tests.risk.factories import ListEntryFactory, RuleFactory

pytestmark = pytest.mark.django_db

ATTEMPT = {"amount": 5000, "currency": "USD", "email": "Buyer@Example.com", "ip": "203.0.113.7"}
FINGERPRINT = "fp_gk44levidsvr2er6wgfyihuyk3ec25ke"


@pytest.fixture
def no_built_in_rules():
    Rule.objects.filter(built_in=True).update(enabled=False)


def test_nothing_matching_is_allowed_with_a_low_score(no_built_in_rules):
    assessment = risk_assess(ATTEMPT)

    assert (assessment.outcome, assessment.score, assessment.level, assessment.matched) == (
        Outcome.ALLOW, 0, Level.LOW, (),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("outcomes", "expected", "score", "level"),
    [
        ([Outcome.ALLOW, Outcome.REQUEST_3DS], Outcome.REQUEST_3DS, 50, Level.ELEVATED),
        ([Outcome.REQUEST_3DS, Outcome.REVIEW], Outcome.REVIEW, 70, Level.ELEVATED),
        ([Outcome.REVIEW, Outcome.BLOCK, Outcome.REQUEST_3DS], Outcome.BLOCK, 100, Level.HIGH),
        ([Outcome.BLOCK], Outcome.BLOCK, 90, Level.HIGH),
        ([Outcome.ALLOW], Outcome.ALLOW, 10, Level.LOW),
    ],
)
def test_live_rules_combine_by_precedence(no_built_in_rules, outcomes, expected, score, level):
    rules = [RuleFactory(expression="amount > 100", outcome=outcome) for outcome in outcomes]

    assessment = risk_assess(ATTEMPT)

    assert assessment.outcome == expected
    assert (assessment.score, assessment.level) == (score, level)
    assert {match.id for match in assessment.matched} == {rule.public_id for rule in rules}


def test_rules_that_do_not_match_or_are_disabled_do_nothing(no_built_in_rules):
    RuleFactory(expression="amount > 100000", outcome=Outcome.BLOCK)
    RuleFactory(expression="amount > 100", outcome=Outcome.BLOCK, enabled=False)

    assessment = risk_assess(ATTEMPT)

    assert (assessment.outcome, assessment.matched) == (Outcome.ALLOW, ())


def test_log_only_rules_are_recorded_but_do_not_act(no_built_in_rules):
    log_only = RuleFactory(name="would block", expression="amount > 100", outcome=Outcome.BLOCK, mode=RuleMode.LOG_ONLY)
    live = RuleFactory(name="review", expression="amount > 100", outcome=Outcome.REVIEW)

    assessment = risk_assess(ATTEMPT)

    assert assessment.outcome == Outcome.REVIEW
    recorded = {match.id: (match.name, match.outcome, match.mode) for match in assessment.matched}
    assert recorded == {
        log_only.public_id: ("would block", Outcome.BLOCK, RuleMode.LOG_ONLY),
        live.public_id: ("review", Outcome.REVIEW, RuleMode.LIVE),
    }


def test_only_log_only_matches_stay_allowed_and_raise_the_score_within_its_band(no_built_in_rules):
    for _ in range(5):
        RuleFactory(expression="amount > 100", outcome=Outcome.BLOCK, mode=RuleMode.LOG_ONLY)

    assessment = risk_assess(ATTEMPT)

    assert (assessment.outcome, assessment.score, assessment.level) == (Outcome.ALLOW, 30, Level.LOW)
    assert len(assessment.matched) == 5


def test_the_allow_list_beats_every_rule_and_the_block_list():
    RuleFactory(expression="amount > 100", outcome=Outcome.BLOCK)
    ListEntryFactory(kind=ListKind.IP, action=ListAction.BLOCK, value="203.0.113.0/24")
    allowed = ListEntryFactory(kind=ListKind.EMAIL, action=ListAction.ALLOW, value="buyer@example.com", reason="VIP")

    assessment = risk_assess(ATTEMPT)

    assert (assessment.outcome, assessment.score, assessment.level) == (Outcome.ALLOW, 0, Level.LOW)
    assert assessment.matched[0].id == allowed.public_id
    assert assessment.matched[0].reason == "VIP"


@pytest.mark.parametrize(
    ("kind", "value", "attributes"),
    [
        (ListKind.EMAIL, "buyer@example.com", {}),  # the attempt's email is normalised to match
        (ListKind.EMAIL_DOMAIN, "example.com", {}),  # taken from the email
        (ListKind.EMAIL_DOMAIN, "mailinator.com", {"email_domain": "Mailinator.COM"}),
        (ListKind.IP, "203.0.113.7/32", {}),
        (ListKind.CARD_FINGERPRINT, FINGERPRINT, {"card_fingerprint": FINGERPRINT}),
        (ListKind.CUSTOMER, "cus_123", {"customer_id": "cus_123"}),
    ],
)
def test_a_block_list_entry_of_each_kind_blocks(kind, value, attributes):
    entry = ListEntryFactory(kind=kind, action=ListAction.BLOCK, value=value, reason="")

    assessment = risk_assess({**ATTEMPT, **attributes})

    assert (assessment.outcome, assessment.score, assessment.level) == (Outcome.BLOCK, 100, Level.HIGH)
    assert [match.id for match in assessment.matched] == [entry.public_id]
    assert value in assessment.matched[0].reason


@pytest.mark.parametrize(
    ("network", "ip", "blocked"),
    [
        ("203.0.113.0/24", "203.0.113.7", True),
        ("203.0.113.0/24", "203.0.114.7", False),
        ("10.0.0.0/8", "10.200.3.4", True),
        ("0.0.0.0/0", "198.51.100.1", True),
        ("2001:db8::/32", "2001:db8:1::5", True),
        ("2001:db8::/32", "2001:db9::5", False),
        ("203.0.113.0/24", "not an address", False),
    ],
)
def test_ip_ranges_match_the_addresses_they_contain(no_built_in_rules, network, ip, blocked):
    ListEntryFactory(kind=ListKind.IP, action=ListAction.BLOCK, value=network)

    assessment = risk_assess({**ATTEMPT, "ip": ip})

    assert assessment.outcome == (Outcome.BLOCK if blocked else Outcome.ALLOW)


def test_an_email_domain_entry_matches_only_that_domain(no_built_in_rules):
    ListEntryFactory(kind=ListKind.EMAIL_DOMAIN, action=ListAction.BLOCK, value="example.com")

    assert risk_assess({**ATTEMPT, "email": "x@example.com"}).outcome == Outcome.BLOCK
    assert risk_assess({**ATTEMPT, "email": "x@example.org"}).outcome == Outcome.ALLOW
    assert risk_assess({**ATTEMPT, "email": "x@notexample.com"}).outcome == Outcome.ALLOW


def test_an_expired_entry_never_matches(no_built_in_rules):
    now = timezone.now()
    ListEntryFactory(kind=ListKind.EMAIL, value="buyer@example.com", expires_at=now - timedelta(seconds=1))
    ListEntryFactory(kind=ListKind.IP, value="203.0.113.7/32", expires_at=now + timedelta(hours=1))

    assessment = risk_assess(ATTEMPT)

    assert assessment.outcome == Outcome.BLOCK
    assert [match.name for match in assessment.matched] == ["Block list: IP address or range (CIDR)"]


def test_an_expired_allow_entry_no_longer_beats_the_rules(no_built_in_rules):
    RuleFactory(expression="amount > 100", outcome=Outcome.REVIEW)
    ListEntryFactory(
        kind=ListKind.EMAIL, action=ListAction.ALLOW, value="buyer@example.com",
        expires_at=timezone.now() - timedelta(minutes=1),
    )  # fmt: skip

    assert risk_assess(ATTEMPT).outcome == Outcome.REVIEW


def test_a_rule_that_fails_to_run_does_not_match_and_is_reported(no_built_in_rules):
    broken = RuleFactory(expression="metadata['plan'] == 'gold'", outcome=Outcome.BLOCK)
    works = RuleFactory(expression="amount > 100", outcome=Outcome.REVIEW)

    assessment = risk_assess(ATTEMPT)  # no metadata key "plan"

    assert assessment.outcome == Outcome.REVIEW
    assert assessment.errors == (broken.public_id,)
    assert [match.id for match in assessment.matched] == [works.public_id]


def test_a_changed_rule_is_compiled_again(no_built_in_rules):
    rule = RuleFactory(expression="amount > 100", outcome=Outcome.BLOCK)
    assert risk_assess(ATTEMPT).outcome == Outcome.BLOCK

    Rule.objects.filter(pk=rule.pk).update(expression="amount > 100000", version=2)

    assert risk_assess(ATTEMPT).outcome == Outcome.ALLOW


def test_the_assessment_reads_as_a_dict(no_built_in_rules):
    rule = RuleFactory(name="big", expression="amount > 100", outcome=Outcome.REVIEW, description="big amount")

    assert risk_assess(ATTEMPT).as_dict() == {
        "score": 60,
        "level": Level.ELEVATED,
        "outcome": Outcome.REVIEW,
        "matched": [{"id": rule.public_id, "name": "big", "outcome": "review", "mode": "live", "reason": "big amount"}],
        "errors": [],
    }


def test_a_merchants_block_entry_blocks_its_own_payments_only(no_built_in_rules):
    shop, other = MerchantFactory(), MerchantFactory()
    entry = ListEntryFactory(merchant=shop, kind=ListKind.EMAIL, action=ListAction.BLOCK, value="buyer@example.com")

    assert risk_assess(ATTEMPT, merchant_id=shop.pk).outcome == Outcome.BLOCK
    assert risk_assess(ATTEMPT, merchant_id=shop.pk).matched[0].id == entry.public_id
    assert risk_assess(ATTEMPT, merchant_id=other.pk).outcome == Outcome.ALLOW
    assert risk_assess(ATTEMPT).outcome == Outcome.ALLOW  # no merchant: the deployment-wide entries only


def test_a_deployment_wide_block_entry_blocks_every_merchant(no_built_in_rules):
    shop, other = MerchantFactory(), MerchantFactory()
    ListEntryFactory(merchant=None, kind=ListKind.IP, action=ListAction.BLOCK, value="203.0.113.0/24")

    assert {risk_assess(ATTEMPT, merchant_id=m).outcome for m in (shop.pk, other.pk, None)} == {Outcome.BLOCK}


def test_a_merchants_allow_entry_lets_its_own_payments_through_and_no_one_elses(no_built_in_rules):
    shop, other = MerchantFactory(), MerchantFactory()
    RuleFactory(expression="amount > 100", outcome=Outcome.BLOCK)
    ListEntryFactory(merchant=shop, kind=ListKind.EMAIL, action=ListAction.ALLOW, value="buyer@example.com")

    assert risk_assess(ATTEMPT, merchant_id=shop.pk).outcome == Outcome.ALLOW
    assert risk_assess(ATTEMPT, merchant_id=other.pk).outcome == Outcome.BLOCK


def test_the_rule_set_is_read_once_per_change(django_assert_num_queries):
    from apps.risk.selectors import rules_enabled

    SYSTEM = Actor.system("tests")  # noqa: N806

    first = rule_create(name="First", expression="amount > 100", outcome="review", actor=SYSTEM)
    rules_enabled()
    with django_assert_num_queries(1):  # the stamp only: nothing changed
        names = [rule.name for rule in rules_enabled()]
    assert "First" in names

    rule_update(rule=first, changes={"expression": "amount > 200"}, actor=SYSTEM)
    assert next(rule for rule in rules_enabled() if rule.name == "First").expression == "amount > 200"
    Rule.objects.filter(pk=first.pk).update(enabled=False)  # even a bulk switch is seen
    assert "First" not in [rule.name for rule in rules_enabled()]
    second = rule_create(name="Second", expression="amount > 1", outcome="block", actor=SYSTEM)
    assert "Second" in [rule.name for rule in rules_enabled()]
    rule_delete(rule=second, actor=SYSTEM)
    assert "Second" not in [rule.name for rule in rules_enabled()]
