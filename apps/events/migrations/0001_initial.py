"""Events out leave the webhooks app: state only."""

import django.db.models.deletion
from django.db import migrations, models

import apps.events.models


class Migration(migrations.Migration):
    initial = True

    # The tables exist: the webhooks app created them. This takes them over in the migration state
    # only (db_table keeps their names), so no row moves and no table is touched.
    dependencies = [
        ("merchants", "0002_publishable_keys"),
        ("webhooks", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Event",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        (
                            "public_id",
                            models.CharField(
                                default=apps.events.models.new_event_id, editable=False, max_length=40, unique=True
                            ),
                        ),
                        ("livemode", models.BooleanField(default=False)),
                        ("type", models.CharField(max_length=60)),
                        ("object_type", models.CharField(max_length=40)),
                        ("object_id", models.CharField(max_length=40)),
                        ("data", models.JSONField(help_text="The object as the API showed it when the event happened")),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("relayed_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "merchant",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="events",
                                to="merchants.merchant",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "webhooks_event",
                    },
                ),
                migrations.CreateModel(
                    name="WebhookDelivery",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        (
                            "public_id",
                            models.CharField(
                                default=apps.events.models.new_delivery_id, editable=False, max_length=40, unique=True
                            ),
                        ),
                        (
                            "status",
                            models.CharField(
                                choices=[
                                    ("pending", "Pending"),
                                    ("succeeded", "Succeeded"),
                                    ("failed", "Failed (gave up)"),
                                    ("cancelled", "Cancelled (endpoint disabled or deleted)"),
                                ],
                                default="pending",
                                max_length=20,
                            ),
                        ),
                        ("attempts", models.PositiveIntegerField(default=0)),
                        ("next_attempt_at", models.DateTimeField(blank=True, null=True)),
                        ("locked_until", models.DateTimeField(blank=True, null=True)),
                        ("last_status_code", models.PositiveSmallIntegerField(blank=True, null=True)),
                        ("last_error", models.CharField(blank=True, max_length=500)),
                        ("delivered_at", models.DateTimeField(blank=True, null=True)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        (
                            "event",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="deliveries",
                                to="events.event",
                            ),
                        ),
                    ],
                    options={
                        "verbose_name_plural": "webhook deliveries",
                        "db_table": "webhooks_webhookdelivery",
                        "permissions": [("resend_webhookdelivery", "Can resend webhook deliveries")],
                    },
                ),
                migrations.CreateModel(
                    name="DeliveryAttempt",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("attempted_at", models.DateTimeField(auto_now_add=True)),
                        ("status_code", models.PositiveSmallIntegerField(blank=True, null=True)),
                        ("latency_ms", models.PositiveIntegerField(default=0)),
                        ("error", models.CharField(blank=True, max_length=500)),
                        ("response_body", models.CharField(blank=True, max_length=1000)),
                        ("correlation_id", models.CharField(blank=True, max_length=128)),
                        (
                            "delivery",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="attempt_log",
                                to="events.webhookdelivery",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "webhooks_deliveryattempt",
                        "ordering": ["-id"],
                    },
                ),
                migrations.CreateModel(
                    name="WebhookEndpoint",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        (
                            "public_id",
                            models.CharField(
                                default=apps.events.models.new_endpoint_id, editable=False, max_length=40, unique=True
                            ),
                        ),
                        ("url", models.URLField(max_length=2000)),
                        ("description", models.CharField(blank=True, max_length=255)),
                        ("event_types", models.JSONField(default=list, help_text='Subscribed types; ["*"] for all')),
                        ("enabled", models.BooleanField(default=True)),
                        ("disabled_reason", models.CharField(blank=True, max_length=255)),
                        ("secret_ciphertext", models.TextField(editable=False)),
                        ("previous_secret_ciphertext", models.TextField(blank=True, editable=False)),
                        ("previous_secret_expires_at", models.DateTimeField(blank=True, editable=False, null=True)),
                        ("failing_since", models.DateTimeField(blank=True, null=True)),
                        ("is_deleted", models.BooleanField(default=False)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("updated_at", models.DateTimeField(auto_now=True)),
                        (
                            "merchant",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="webhook_endpoints",
                                to="merchants.merchant",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "webhooks_webhookendpoint",
                    },
                ),
                migrations.AddField(
                    model_name="webhookdelivery",
                    name="endpoint",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="deliveries",
                        to="events.webhookendpoint",
                    ),
                ),
                migrations.AddIndex(
                    model_name="event",
                    index=models.Index(fields=["merchant", "-id"], name="event_merchant_idx"),
                ),
                migrations.AddIndex(
                    model_name="event",
                    index=models.Index(
                        condition=models.Q(("relayed_at__isnull", True)),
                        fields=["created_at"],
                        name="event_unrelayed_idx",
                    ),
                ),
                migrations.AddIndex(
                    model_name="webhookendpoint",
                    index=models.Index(fields=["merchant", "enabled"], name="endpoint_merchant_idx"),
                ),
                migrations.AddIndex(
                    model_name="webhookdelivery",
                    index=models.Index(
                        condition=models.Q(("status", "pending")), fields=["next_attempt_at"], name="delivery_due_idx"
                    ),
                ),
                migrations.AddConstraint(
                    model_name="webhookdelivery",
                    constraint=models.UniqueConstraint(fields=("event", "endpoint"), name="delivery_once_per_endpoint"),
                ),
            ],
            database_operations=[],
        ),
    ]
