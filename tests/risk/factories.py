from __future__ import annotations

import factory
from factory.django import DjangoModelFactory

from apps.risk.models import ListAction, ListEntry, ListKind, Outcome, Rule, RuleMode


class RuleFactory(DjangoModelFactory[Rule]):
    class Meta:
        model = Rule

    name = factory.Sequence(lambda n: f"rule {n}")
    expression = "amount > 100"
    outcome = Outcome.REVIEW
    mode = RuleMode.LIVE
    enabled = True


class ListEntryFactory(DjangoModelFactory[ListEntry]):
    """Values are given in their stored (normalised) form."""

    class Meta:
        model = ListEntry

    kind = ListKind.EMAIL
    action = ListAction.BLOCK
    value = factory.Sequence(lambda n: f"listed{n}@example.com")
    reason = "test"
