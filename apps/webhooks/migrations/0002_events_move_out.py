"""The outbox, merchant endpoints and deliveries now belong to the events app (apps.events): they
leave this app's migration state; their tables stay as they are, and their content types (with
the permissions and admin history that point at them) move to the events app."""

from django.db import migrations

MOVED = ["event", "webhookendpoint", "webhookdelivery", "deliveryattempt"]


def move_content_types(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in MOVED:
        ContentType.objects.filter(app_label="events", model=model).delete()  # made by a fresh migrate
        ContentType.objects.filter(app_label="webhooks", model=model).update(app_label="events")


def move_content_types_back(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.filter(app_label="events", model__in=MOVED).update(app_label="webhooks")


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0001_initial"),
        ("events", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name="event",
                    name="merchant",
                ),
                migrations.RemoveField(
                    model_name="webhookdelivery",
                    name="event",
                ),
                migrations.RemoveField(
                    model_name="webhookdelivery",
                    name="endpoint",
                ),
                migrations.RemoveField(
                    model_name="webhookendpoint",
                    name="merchant",
                ),
                migrations.DeleteModel(
                    name="DeliveryAttempt",
                ),
                migrations.DeleteModel(
                    name="Event",
                ),
                migrations.DeleteModel(
                    name="WebhookDelivery",
                ),
                migrations.DeleteModel(
                    name="WebhookEndpoint",
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(move_content_types, move_content_types_back),
    ]
