"""The outbox, endpoints and deliveries moved from the webhooks app to the events app in the
migration state only: on a database that holds rows, every row is still there afterwards, read
through the new app, and the permissions went along with their content types."""

from __future__ import annotations

import pytest

# The migrator rebuilds the database up to the targets, so the ledger check after the test has no
# ledger to read; the migrator migrates everything forward again afterwards.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.ledger_unchecked]

BEFORE = [("webhooks", "0001_initial"), ("events", None)]
AFTER = [("webhooks", "0002_events_move_out"), ("events", "0001_initial")]


def test_every_row_survives_the_move_and_is_read_through_the_events_app(migrator):
    old = migrator.apply_initial_migration(BEFORE)
    merchant = old.apps.get_model("merchants", "Merchant").objects.create(slug="moved", name="Moved")
    event = old.apps.get_model("webhooks", "Event").objects.create(
        public_id="evt_moved", merchant=merchant, type="payment.captured", object_type="payment",
        object_id="pay_1", data={"id": "pay_1"},
    )  # fmt: skip
    endpoint = old.apps.get_model("webhooks", "WebhookEndpoint").objects.create(
        public_id="we_moved", merchant=merchant, url="https://example.com/h", event_types=["*"],
        secret_ciphertext="x",
    )  # fmt: skip
    delivery = old.apps.get_model("webhooks", "WebhookDelivery").objects.create(
        public_id="msg_moved", event=event, endpoint=endpoint
    )
    old.apps.get_model("webhooks", "DeliveryAttempt").objects.create(delivery=delivery, status_code=500)
    content_type = old.apps.get_model("contenttypes", "ContentType").objects.get_or_create(
        app_label="webhooks", model="webhookdelivery"
    )[0]
    permission = old.apps.get_model("auth", "Permission").objects.create(
        content_type=content_type, codename="resend_webhookdelivery_moved", name="Resend (moved)"
    )

    new = migrator.apply_tested_migration(AFTER)

    moved = new.apps.get_model("events", "WebhookDelivery").objects.select_related("event", "endpoint").get()
    assert (moved.public_id, moved.event.public_id, moved.endpoint.url) == (
        "msg_moved",
        "evt_moved",
        "https://example.com/h",
    )
    assert new.apps.get_model("events", "DeliveryAttempt").objects.get().status_code == 500
    assert new.apps.get_model("events", "Event").objects.get().data == {"id": "pay_1"}
    moved_permission = (
        new.apps.get_model("auth", "Permission").objects.select_related("content_type").get(pk=permission.pk)
    )
    assert moved_permission.content_type.app_label == "events"
