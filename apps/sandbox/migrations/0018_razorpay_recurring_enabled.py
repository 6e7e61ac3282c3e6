from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("sandbox", "0017_razorpay_deferred_charges"),
    ]

    operations = [
        migrations.AddField(
            model_name="rzpaccount",
            name="recurring_enabled",
            field=models.BooleanField(
                default=True,
                help_text="Razorpay turns recurring payments (saved cards charged later) on per account.",
            ),
        ),
    ]
