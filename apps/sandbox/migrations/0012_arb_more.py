from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("sandbox", "0011_cim_more")]

    operations = [
        migrations.AddField(
            model_name="anetsubscription",
            name="first_name",
            field=models.CharField(blank=True, max_length=50),
        ),
        migrations.AddField(
            model_name="anetsubscription",
            name="last_name",
            field=models.CharField(blank=True, max_length=50),
        ),
    ]
