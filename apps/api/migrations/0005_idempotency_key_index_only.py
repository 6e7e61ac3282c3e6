"""Idempotency records lose their merchant-only index: the unique (merchant, key) index serves every
lookup by merchant, and with both to choose from, a claim's plan made while the table was small
(kept by a prepared statement until the table is next analysed) read a merchant's every key through
the merchant-only index, 5,500 index entries per claim after 6,000 purchases in `make bench`.

Only the index goes (CONCURRENTLY on PostgreSQL, so claims carry on meanwhile); the foreign key
constraint stays as it is, where AlterField would drop and re-validate it."""

import django.db.models.deletion
from django.db import migrations, models

INDEX = "api_idempotencyrecord_merchant_id_36404eb0"


def drop_index(apps, schema_editor):
    concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
    schema_editor.execute(f'DROP INDEX {concurrently}IF EXISTS "{INDEX}"')


def create_index(apps, schema_editor):
    concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
    schema_editor.execute(
        f'CREATE INDEX {concurrently}IF NOT EXISTS "{INDEX}" ON "api_idempotencyrecord" ("merchant_id")'
    )


class Migration(migrations.Migration):
    atomic = False  # CREATE / DROP INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("api", "0004_idempotency_response_bytes"),
        ("merchants", "0002_publishable_keys"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="idempotencyrecord",
                    name="merchant",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="merchants.merchant",
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(drop_index, create_index, elidable=False)],
        ),
    ]
