"""Checkouts and entitlements point at customers.Customer (the same table): state only."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0001_initial"),
        ("customers", "0002_customer_moves_in"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="checkoutorder",
                    name="customer",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="checkout_orders",
                        to="customers.customer",
                    ),
                ),
                migrations.AlterField(
                    model_name="entitlement",
                    name="customer",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="entitlements",
                        to="customers.customer",
                    ),
                ),
            ],
            database_operations=[],
        ),
    ]
