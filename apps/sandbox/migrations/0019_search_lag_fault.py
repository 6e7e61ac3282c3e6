from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("sandbox", "0018_razorpay_recurring_enabled"),
    ]

    operations = [
        migrations.AlterField(
            model_name="sandboxfault",
            name="kind",
            field=models.CharField(
                choices=[
                    ("latency", "Added latency before processing (value: ms)"),
                    ("http_error", "HTTP error without processing (value: status code)"),
                    ("reset", "Connection reset without processing"),
                    ("drop_response", "Process, then reset the connection"),
                    ("hang_after", "Process, then wait before answering (value: ms)"),
                    ("webhook_duplicate", "Webhooks: deliver extra copies (value: how many)"),
                    ("webhook_delay", "Webhooks: hold the notification back, so later ones overtake it (value: ms)"),
                    ("misreport_declined", "Process, then answer 'declined' (a refund we think failed)"),
                    ("search_lag", "Search: leave out objects created in the last N seconds (value: seconds)"),
                ],
                max_length=20,
            ),
        ),
    ]
