from __future__ import annotations

import re
from typing import Any

from apps.audit.actors import Actor
from apps.sandbox.services import anet_settle

VISA = {"type": "card", "number": "4111111111111111", "exp_month": 12, "exp_year": 2030, "cvc": "123"}


def purchase_body(amount: int = 1050, **overrides: Any) -> dict[str, Any]:
    body = {"amount": amount, "currency": "USD", "payment_method": dict(VISA), "reference": "order-1"}
    body.update(overrides)
    return body


def purchase(api: Any, amount: int = 1050, key: str | None = None, **overrides: Any) -> Any:
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return api.post("/api/v1/payments", purchase_body(amount, **overrides), format="json", **headers)


def settle(sandbox_account: Any) -> None:
    anet_settle(account=sandbox_account, actor=Actor.system("tests"))


def confirm_action(client: Any, url: str, data: dict[str, Any], **kwargs: Any) -> Any:
    """An admin money action as a browser does it: the form posted, then its confirmation page's
    form (which carries the confirmation's request reference) posted back."""
    page = client.post(url, data)
    found = re.search(rb'name="request_reference" value="([^"]+)"', page.content)
    assert found, page.content[:2000]
    return client.post(url, {**data, "confirm": "yes", "request_reference": found.group(1).decode()}, **kwargs)
