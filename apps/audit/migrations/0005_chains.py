"""Several audit chains: the chain column (a constant database default, so no row is rewritten and
an older process keeps appending to chain 0; no CHECK constraint, whose validation would scan the
whole table under the exclusive lock) and the checkpoint table."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0004_finance_view_permission"),
        ("merchants", "0002_publishable_keys"),
    ]

    operations = [
        migrations.CreateModel(
            name="AuditCheckpoint",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("created_at", models.DateTimeField()),
                ("heads", models.JSONField()),
                ("prev_signature", models.CharField(blank=True, max_length=64)),
                ("signature", models.CharField(max_length=64, unique=True)),
            ],
            options={
                "ordering": ["-id"],
            },
        ),
        migrations.AddField(
            model_name="auditevent",
            name="chain",
            field=models.SmallIntegerField(db_default=0, default=0),
        ),
    ]
