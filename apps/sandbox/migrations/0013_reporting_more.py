from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("sandbox", "0012_arb_more")]

    operations = [
        migrations.AddField(
            model_name="anetbatch",
            name="statistics",
            field=models.JSONField(blank=True, default=list),
        ),
    ]
