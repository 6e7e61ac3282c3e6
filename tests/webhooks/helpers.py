from __future__ import annotations

import json
import uuid
from typing import Any

from apps.gateways.authorizenet import webhook_signature
from tests.helpers import wait_for

__all__ = ["anet_body", "anet_url", "post_anet", "wait_for"]


def anet_body(
    transaction_id: str,
    event_type: str = "net.authorize.payment.authcapture.created",
    *,
    notification_id: str | None = None,
    reference: str = "",
) -> bytes:
    return json.dumps(
        {
            "notificationId": notification_id or str(uuid.uuid4()),
            "eventType": event_type,
            "eventDate": "2026-11-22T10:00:00.1234567Z",
            "webhookId": str(uuid.uuid4()),
            "payload": {
                "responseCode": 1,
                "authCode": "ABC123",
                "avsResponse": "Y",
                "authAmount": 10.5,
                "merchantReferenceId": reference,
                "entityName": "transaction",
                "id": transaction_id,
            },
        }
    ).encode()


def anet_url(account: Any) -> str:
    return f"/webhooks/authorizenet/{account.public_id}"


def post_anet(client: Any, account: Any, body: bytes, *, key: str | None = None, signature: str | None = None) -> Any:
    key = key if key is not None else account.credentials()["signature_key"]
    headers = {"HTTP_X_ANET_SIGNATURE": signature if signature is not None else webhook_signature(body, key)}
    return client.post(anet_url(account), data=body, content_type="application/json", **headers)
