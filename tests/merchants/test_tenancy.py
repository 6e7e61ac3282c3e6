"""One merchant's key can neither read nor change another merchant's objects: 404, never 403."""

from __future__ import annotations

import pytest

from apps.audit.models import AuditEvent
from apps.merchants.models import ApiKey

pytestmark = pytest.mark.django_db


def test_other_merchants_key_is_not_found(api, other_merchant, issue_key):
    foreign = issue_key(other_merchant)

    response = api.get(f"/api/v1/api-keys/{foreign.api_key.public_id}")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "resource_missing"


def test_other_merchants_key_cannot_be_revoked_and_nothing_changes(api, other_merchant, issue_key):
    foreign = issue_key(other_merchant)
    audit_before = AuditEvent.objects.count()

    response = api.post(f"/api/v1/api-keys/{foreign.api_key.public_id}/revoke", HTTP_IDEMPOTENCY_KEY="x-1")

    assert response.status_code == 404
    assert ApiKey.objects.get(pk=foreign.api_key.pk).revoked_at is None
    assert AuditEvent.objects.count() == audit_before


def test_lists_never_include_other_merchants_objects(api, merchant, other_merchant, issue_key):
    issue_key(other_merchant, name="theirs")

    names = [key["name"] for key in api.get("/api/v1/api-keys").json()["data"]]

    assert "theirs" not in names
