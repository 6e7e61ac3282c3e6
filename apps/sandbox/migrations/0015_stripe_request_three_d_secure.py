from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("sandbox", "0014_bank_accounts")]

    operations = [
        migrations.AddField(
            model_name="stripepaymentintent",
            name="request_three_d_secure",
            field=models.CharField(default="automatic", max_length=20),
        ),
    ]
