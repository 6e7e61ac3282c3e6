"""Idempotency records of Stripe checkout starts stored before their answers held the client
secret back (apps.catalog.api.views.StripePaymentIntentCreateApi.to_store) lose it: whoever holds
a client secret can confirm the PaymentIntent, and it sat in plaintext in response_body and
response_content until the key expired. A replay reads it from Stripe again, as for any record
stored since. Nothing to undo: the secret is not kept anywhere to put back."""

import json

from django.db import migrations
from rest_framework.renderers import JSONRenderer

PATH = "/api/v1/checkout/stripe/payment-intents"


def _without_secret(body):
    """The body without its stripe.client_secret, or None when it has none."""
    options = body.get("stripe") if isinstance(body, dict) else None
    if not isinstance(options, dict) or "client_secret" not in options:
        return None
    return {**body, "stripe": {name: value for name, value in options.items() if name != "client_secret"}}


def scrub(apps, schema_editor):
    records = apps.get_model("api", "IdempotencyRecord").objects
    for record in records.filter(path=PATH, response_status=201).iterator(chunk_size=500):
        fields = []
        body = _without_secret(record.response_body)
        if body is not None:
            record.response_body, fields = body, ["response_body"]
        if record.response_content is not None:
            content = _without_secret(json.loads(bytes(record.response_content)))
            if content is not None:
                record.response_content = JSONRenderer().render(content)
                fields.append("response_content")
        if fields:
            record.save(update_fields=fields)


class Migration(migrations.Migration):
    dependencies = [("api", "0005_idempotency_key_index_only")]

    operations = [migrations.RunPython(scrub, migrations.RunPython.noop)]
