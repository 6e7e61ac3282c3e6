"""The built-in rules, enabled and live. Staff may change or disable them (audited, versioned);
the services refuse to delete them. Velocity figures may be unknown (counters unreachable), so
the rules say what unknown means: `?? 0` counts nothing, a null country never mismatches."""

from django.db import migrations

from apps.risk.built_in import BUILT_IN_RULES  # the same list post_migrate keeps installed


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
