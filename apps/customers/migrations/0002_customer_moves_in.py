"""The Customer model moves from the payments app to this one, in the migration state only: its
table (payments_customer) and every row stay, and the foreign keys point at the same table."""

import django.db.models.deletion
from django.db import migrations, models

import apps.customers.models


def move_content_type(apps, schema_editor):
    """Permissions and admin history point at the content type: it moves with the model."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.filter(app_label="customers", model="customer").delete()  # made by a fresh migrate
    ContentType.objects.filter(app_label="payments", model="customer").update(app_label="customers")


def move_content_type_back(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.filter(app_label="customers", model="customer").update(app_label="payments")


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0001_initial"),
        ("merchants", "0002_publishable_keys"),
        ("payments", "0005_refund_request_reference"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Customer",
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
                                default=apps.customers.models.new_customer_id,
                                editable=False,
                                max_length=40,
                                unique=True,
                            ),
                        ),
                        ("email", models.EmailField(blank=True, max_length=254)),
                        ("name", models.CharField(blank=True, max_length=200)),
                        ("phone", models.CharField(blank=True, max_length=40)),
                        ("metadata", models.JSONField(blank=True, default=dict)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        (
                            "merchant",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="customers",
                                to="merchants.merchant",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "payments_customer",
                    },
                ),
                migrations.AlterField(
                    model_name="paymentmethod",
                    name="customer",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="payment_methods",
                        to="customers.customer",
                    ),
                ),
                migrations.AlterField(
                    model_name="vaultprofile",
                    name="customer",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="vault_profiles",
                        to="customers.customer",
                    ),
                ),
                migrations.AddIndex(
                    model_name="customer",
                    index=models.Index(fields=["merchant", "email"], name="customer_email_idx"),
                ),
                migrations.AddIndex(
                    model_name="customer",
                    index=models.Index(fields=["email"], name="customer_email_only_idx"),
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(move_content_type, move_content_type_back),
    ]
