"""The built-in rules exist after migrate, enabled and live, compile, and catch what they say."""

from __future__ import annotations

import pytest

from apps.risk.assessment import risk_assess
from apps.risk.expressions import compile_expression
from apps.risk.models import Outcome, Rule, RuleMode

pytestmark = pytest.mark.django_db

BASE = {"amount": 5000, "currency": "USD"}
BUILT_IN = {
    "Card testing": Outcome.BLOCK,
    "Card used by too many customers": Outcome.REVIEW,
    "High amount, first-time customer": Outcome.REVIEW,
    "Country mismatch": Outcome.REQUEST_3DS,
}


def test_the_built_in_rules_are_present_enabled_live_and_compile():
    rules = Rule.objects.filter(built_in=True)

    assert {rule.name: rule.outcome for rule in rules} == BUILT_IN
    for rule in rules:
        assert (rule.enabled, rule.mode, rule.version) == (True, RuleMode.LIVE, 1)
        assert rule.public_id.startswith("rul_")
        compile_expression(rule.expression)


@pytest.mark.parametrize(
    ("attributes", "outcome", "names"),
    [
        ({}, Outcome.ALLOW, []),
        ({"declines_card_10m": 3}, Outcome.BLOCK, ["Card testing"]),
        ({"declines_ip_10m": 5}, Outcome.BLOCK, ["Card testing"]),
        ({"declines_card_10m": 2, "declines_ip_10m": 4}, Outcome.ALLOW, []),
        ({"customers_per_card_24h": 4}, Outcome.REVIEW, ["Card used by too many customers"]),
        ({"customers_per_card_24h": 3}, Outcome.ALLOW, []),
        ({"first_time_customer": True, "amount_usd": 100001}, Outcome.REVIEW, ["High amount, first-time customer"]),
        ({"first_time_customer": True, "amount_usd": 100000}, Outcome.ALLOW, []),
        ({"first_time_customer": False, "amount_usd": 500000}, Outcome.ALLOW, []),
        ({"ip_country": "US", "card_country": "GB"}, Outcome.REQUEST_3DS, ["Country mismatch"]),
        ({"ip_country": "gb", "card_country": "GB"}, Outcome.ALLOW, []),
        ({"ip_country": None, "card_country": "GB"}, Outcome.ALLOW, []),
        (
            {"declines_card_10m": 3, "ip_country": "US", "card_country": "GB"},
            Outcome.BLOCK,
            ["Card testing", "Country mismatch"],
        ),
    ],
)
def test_the_built_in_rules_catch_what_they_say(attributes, outcome, names):
    assessment = risk_assess({**BASE, **attributes})

    assert assessment.outcome == outcome
    assert sorted(match.name for match in assessment.matched) == names
