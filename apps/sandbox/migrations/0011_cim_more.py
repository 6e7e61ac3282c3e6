import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("sandbox", "0010_stripe_payouts")]

    operations = [
        migrations.AddField(
            model_name="anetpaymentprofile",
            name="address",
            field=models.CharField(blank=True, max_length=60),
        ),
        migrations.AddField(
            model_name="anetpaymentprofile",
            name="city",
            field=models.CharField(blank=True, max_length=40),
        ),
        migrations.AddField(
            model_name="anetpaymentprofile",
            name="company",
            field=models.CharField(blank=True, max_length=50),
        ),
        migrations.AddField(
            model_name="anetpaymentprofile",
            name="country",
            field=models.CharField(blank=True, max_length=60),
        ),
        migrations.AddField(
            model_name="anetpaymentprofile",
            name="phone_number",
            field=models.CharField(blank=True, max_length=25),
        ),
        migrations.AddField(
            model_name="anetpaymentprofile",
            name="state",
            field=models.CharField(blank=True, max_length=40),
        ),
        migrations.CreateModel(
            name="AnetShippingAddress",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("first_name", models.CharField(blank=True, max_length=50)),
                ("last_name", models.CharField(blank=True, max_length=50)),
                ("company", models.CharField(blank=True, max_length=50)),
                ("address", models.CharField(blank=True, max_length=60)),
                ("city", models.CharField(blank=True, max_length=40)),
                ("state", models.CharField(blank=True, max_length=40)),
                ("zip", models.CharField(blank=True, max_length=20)),
                ("country", models.CharField(blank=True, max_length=60)),
                ("phone_number", models.CharField(blank=True, max_length=25)),
                ("fax_number", models.CharField(blank=True, max_length=25)),
                ("email", models.CharField(blank=True, max_length=255)),
                ("is_default", models.BooleanField(default=False)),
                ("deleted_at", models.DateTimeField(blank=True, null=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "customer_profile",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="shipping_addresses",
                        to="sandbox.anetcustomerprofile",
                    ),
                ),
            ],
            options={
                "verbose_name": "Authorize.Net sandbox shipping address",
            },
        ),
    ]
