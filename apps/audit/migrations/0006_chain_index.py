"""The (chain, id) index every append reads its chain's head through.

Built CONCURRENTLY on PostgreSQL so audited writes keep going while a large table is indexed
(hence a non-atomic migration).
"""

from django.db import migrations, models

INDEX = "audit_chain_idx"


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {INDEX} ON audit_auditevent (chain, id)", params=None)
        return
    # A concurrent build that failed or was cancelled leaves an invalid index behind, which
    # IF NOT EXISTS would keep: drop it and build again.
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = %s",
            [INDEX],
        )
        row = cursor.fetchone()
    if row is not None and not row[0]:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}", params=None)
    schema_editor.execute(
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX} ON audit_auditevent (chain, id)", params=None
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
