"""The built-in rules, enabled and live. Staff may change or disable them (audited, versioned);
the services refuse to delete them. Velocity figures may be unknown (counters unreachable), so
the rules say what unknown means: `?? 0` counts nothing, a null country never mismatches."""

from django.db import migrations

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


def forwards(apps, schema_editor):
    from apps.core.ids import public_id

    Rule = apps.get_model("risk", "Rule")
    for rule in BUILT_IN_RULES:
        Rule.objects.update_or_create(
            name=rule["name"],
            defaults={**rule, "mode": "live", "enabled": True, "built_in": True},
            create_defaults={**rule, "mode": "live", "enabled": True, "built_in": True, "public_id": public_id("rul")},
        )


def backwards(apps, schema_editor):
    Rule = apps.get_model("risk", "Rule")
    Rule.objects.filter(built_in=True, name__in=[rule["name"] for rule in BUILT_IN_RULES]).delete()


class Migration(migrations.Migration):
    dependencies = [("risk", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards)]
