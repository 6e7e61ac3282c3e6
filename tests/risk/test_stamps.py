"""The rules and lists each web process keeps under their stamps in Redis: a payment asks the
database nothing for them while nothing changed, and sees any change at once, in every process
(the stamp is shared), whoever made it; a change the stamp missed is seen within the refresh age."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from apps.audit.actors import Actor
from apps.core.redis_client import redis_client
from apps.risk import selectors
from apps.risk.attempts import Attempt, risk_evaluate
from apps.risk.models import ListEntry, Rule
from apps.risk.services import list_entry_add, list_entry_remove, rule_create, rule_update
from apps.risk.stamps import STAMP_KEYS

pytestmark = pytest.mark.django_db(transaction=True)  # stamps are set when a change commits

SYSTEM = Actor.system("tests")


@pytest.fixture(autouse=True)
def fresh_copies(monkeypatch: Any) -> None:
    monkeypatch.setattr(selectors, "_enabled_by_stamp", None)
    monkeypatch.setattr(selectors, "_lists", None)
    redis_client(django_settings.REDIS_URL).delete(*STAMP_KEYS)


@pytest.fixture
def evaluate(merchant: Any) -> Any:
    def assess(email: str = "lea@example.com", amount: int = 1_000) -> Any:
        attempt = Attempt(
            merchant_id=merchant.pk, amount=amount, currency="USD", email=email, ip="203.0.113.9",
            reference=uuid.uuid4().hex,
        )  # fmt: skip
        return risk_evaluate(attempt)

    return assess


def test_with_nothing_changed_a_payment_asks_the_database_nothing(django_assert_num_queries, evaluate):
    rule_create(name="Big", expression="amount > 5000", outcome="review", actor=SYSTEM)
    evaluate()  # the stamps were missing: set now, the database asked
    evaluate()  # the copies are read under the stamps

    with django_assert_num_queries(0):
        assessment = evaluate(amount=9_000)

    assert assessment.outcome == "review"


def test_a_change_is_seen_by_the_next_payment(django_assert_num_queries, evaluate):
    rule = rule_create(name="Big", expression="amount > 5000", outcome="review", actor=SYSTEM)
    evaluate(), evaluate()

    rule_update(rule=rule, changes={"outcome": "block"}, actor=SYSTEM)
    assert evaluate(amount=9_000).outcome == "block"

    entry = list_entry_add(kind="email", action="block", value="eve@example.com", reason="fraud", actor=SYSTEM)
    assert evaluate(email="eve@example.com").outcome == "block"
    list_entry_remove(entry=entry, actor=SYSTEM)
    assert evaluate(email="eve@example.com").outcome == "allow"

    Rule.objects.filter(pk=rule.pk).delete()  # not through a service: the signal still sets the stamp
    assert evaluate(amount=9_000).outcome == "allow"


def test_a_bulk_update_the_stamp_missed_is_seen_within_the_refresh_age(settings, evaluate):
    rule = rule_create(name="Big", expression="amount > 5000", outcome="review", actor=SYSTEM)
    evaluate(), evaluate()

    Rule.objects.filter(pk=rule.pk).update(enabled=False)  # no signal, no new stamp
    assert evaluate(amount=9_000).outcome == "review"  # the copy is still believed

    settings.RISK_CACHE_REFRESH_SECONDS = 0
    assert evaluate(amount=9_000).outcome == "allow"


def test_an_expired_entry_stops_matching_without_a_change(settings, evaluate):
    entry = list_entry_add(kind="email", action="block", value="eve@example.com", actor=SYSTEM)
    ListEntry.objects.filter(pk=entry.pk).update(expires_at=timezone.now() + timedelta(milliseconds=300))
    settings.RISK_CACHE_REFRESH_SECONDS = 0
    assert evaluate(email="eve@example.com").outcome == "block"
    settings.RISK_CACHE_REFRESH_SECONDS = 60
    time.sleep(0.4)
    assert evaluate(email="eve@example.com").outcome == "allow"


def test_lists_larger_than_the_copy_may_hold_are_asked_of_the_database(settings, django_assert_num_queries, evaluate):
    settings.RISK_LIST_CACHE_MAX_ENTRIES = 1
    list_entry_add(kind="email", action="block", value="eve@example.com", actor=SYSTEM)
    list_entry_add(kind="email", action="block", value="mallory@example.com", actor=SYSTEM)
    evaluate(), evaluate()

    with django_assert_num_queries(1):  # the matching entries, every payment
        assert evaluate(email="mallory@example.com").outcome == "block"


def test_without_redis_the_database_decides(settings, evaluate):
    evaluate(), evaluate()
    settings.REDIS_URL = ""  # no Redis: no velocity, no stamps

    list_entry_add(kind="email", action="block", value="eve@example.com", actor=SYSTEM)

    assert evaluate(email="eve@example.com").outcome == "block"
