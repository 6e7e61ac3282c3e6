"""The built-in rules, enabled and live on a new installation. Staff may change or disable them
(audited, versioned); the services refuse to delete them. Velocity figures may be unknown
(counters unreachable), so the rules say what unknown means: `?? 0` counts nothing, a null
country never mismatches.

`built_in_rules_install` runs after every migrate (and after a test database is flushed): it
adds a built-in rule that is missing, by name, and never touches one that exists."""

from __future__ import annotations

from django.db import transaction

from apps.audit.actors import Actor
from apps.audit.services import audit_record

from .models import Rule, RuleMode

BUILT_IN_RULES = [
    {
        "name": "Card testing",
        "description": "Several declines of one card, or from one IP, within 10 minutes.",
        "expression": "(declines_card_10m ?? 0) >= 3 or (declines_ip_10m ?? 0) >= 5",
        "outcome": "block",
    },
    {
        "name": "Card used by too many customers",
        "description": "One card used by more than 3 customers in 24 hours.",
        "expression": "(customers_per_card_24h ?? 0) > 3",
        "outcome": "review",
    },
    {
        "name": "High amount, first-time customer",
        "description": "A first payment of more than 1,000.00 USD (amount_usd is in US cents).",
        "expression": "(first_time_customer ?? false) and (amount_usd ?? 0) > 100000",
        "outcome": "review",
    },
    {
        "name": "Country mismatch",
        "description": "The IP's country is not the card's country.",
        "expression": "ip_country != null and card_country != null and ip_country != card_country",
        "outcome": "request_3ds",
    },
]


def built_in_rules_install(*, actor: Actor) -> int:
    """Create the built-in rules that do not exist; returns how many were created."""
    created = 0
    with transaction.atomic():
        # Any rule of that name (staff may have made one of their own): never a second of a name.
        present = set(Rule.objects.values_list("name", flat=True))
        for spec in BUILT_IN_RULES:
            if spec["name"] in present:
                continue
            rule = Rule.objects.create(**spec, mode=RuleMode.LIVE, enabled=True, built_in=True)
            audit_record(actor=actor, action="risk_rule.created", target=rule, after={**spec, "built_in": True})
            created += 1
    return created
