"""The statements one purchase costs, once this process has seen its key and the risk rules:
each is needed (the key's claim, the gateway account, the payment and its call recorded before
the gateway call, the result, its call recorded by one guarded update with no locking read, the
ledger's entry with its postings in one statement, audit rows, the event, the stored answer).
Authentication, the risk rules and lists, the ledger's accounts and the search for earlier calls
of a new key cost none (apps.merchants.key_cache, apps.risk.selectors, apps.ledger.services,
apps.core.references)."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.payments.helpers import purchase_body

pytestmark = pytest.mark.django_db(transaction=True)  # stamps are set when changes commit

STATEMENTS_PER_PURCHASE = 16  # with BEGIN and COMMIT of its two transactions


def test_a_purchase_costs_only_the_statements_it_needs(api, anet_account):
    for _ in range(2):  # the first purchases read what the process keeps
        api.post("/api/v1/payments", purchase_body(), format="json", HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex)

    with CaptureQueriesContext(connection) as queries:
        response = api.post("/api/v1/payments", purchase_body(), format="json", HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex)

    assert response.status_code == 201
    statements = [query["sql"][:120] for query in queries.captured_queries]
    assert len(statements) <= STATEMENTS_PER_PURCHASE, "\n".join(statements)
    assert not [sql for sql in statements if "risk_" in sql or "merchants_apikey" in sql]
