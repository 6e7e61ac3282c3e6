"""The (chain, id) index every append reads its chain's head through.

Built CONCURRENTLY on PostgreSQL so audited writes keep going while a large table is indexed
(hence a non-atomic migration).
"""

from django.db import migrations, models

INDEX = "audit_chain_idx"


def forwards(apps, schema_editor):
    concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
    schema_editor.execute(
        f"CREATE INDEX {concurrently}IF NOT EXISTS {INDEX} ON audit_auditevent (chain, id)", params=None
    )


def backwards(apps, schema_editor):
    schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}", params=None)


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("audit", "0005_chains")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(forwards, backwards, elidable=False)],
            state_operations=[
                migrations.AddIndex(model_name="auditevent", index=models.Index(fields=["chain", "id"], name=INDEX)),
            ],
        )
    ]
