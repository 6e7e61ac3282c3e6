from __future__ import annotations

import re

import pytest

from apps.accounts import roles
from apps.audit.models import AuditEvent
from apps.merchants.keys import hash_secret
from apps.merchants.models import ApiKey, Merchant
from tests.accounts.factories import StaffUserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def ops_client(client):
    user = StaffUserFactory(roles=[roles.OPS])
    client.force_login(user)
    client.user = user
    return client


def test_ops_creates_a_merchant_through_the_service_and_it_is_audited(ops_client):
    response = ops_client.post("/admin/merchants/merchant/add/", {"slug": "newco", "name": "New Co"})

    assert response.status_code == 302
    merchant = Merchant.objects.get(slug="newco")
    event = AuditEvent.objects.get(action="merchant.created", target_id=merchant.public_id)
    assert event.actor_label == ops_client.user.username


def test_issuing_a_key_in_the_admin_shows_the_secret_once(ops_client, merchant):
    response = ops_client.post(
        "/admin/merchants/apikey/add/", {"merchant": merchant.pk, "name": "from-admin", "mode": "live"}
    )

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    secret = re.search(r"sk_live_[0-9A-Za-z]{32}", response.content.decode()).group(0)
    api_key = ApiKey.objects.get(name="from-admin")
    assert api_key.secret_hash == hash_secret(secret)
    detail = ops_client.get(f"/admin/merchants/apikey/{api_key.pk}/change/")
    assert detail.status_code == 200
    assert secret not in detail.content.decode()
    assert api_key.display in detail.content.decode()


def test_revoking_in_the_admin_asks_for_confirmation_first(ops_client, api_key):
    changelist = "/admin/merchants/apikey/"
    payload = {"action": "revoke_selected", "_selected_action": [api_key.api_key.pk]}

    confirm_page = ops_client.post(changelist, payload)
    assert confirm_page.status_code == 200
    assert b"Yes, revoke" in confirm_page.content
    assert ApiKey.objects.get(pk=api_key.api_key.pk).revoked_at is None

    done = ops_client.post(changelist, {**payload, "confirm": "yes"})
    assert done.status_code == 302
    assert ApiKey.objects.get(pk=api_key.api_key.pk).revoked_at is not None
    assert AuditEvent.objects.filter(action="api_key.revoked", actor_label=ops_client.user.username).exists()


def test_roles_without_revoke_permission_do_not_get_the_action(client, api_key):
    client.force_login(StaffUserFactory(roles=[roles.AUDITOR]))

    response = client.get("/admin/merchants/apikey/")

    assert response.status_code == 200
    assert b"revoke_selected" not in response.content
    assert client.get("/admin/merchants/apikey/add/").status_code == 403


def test_merchant_change_page_keeps_slug_read_only(ops_client, merchant):
    response = ops_client.get(f"/admin/merchants/merchant/{merchant.pk}/change/")

    assert response.status_code == 200
    assert b'name="slug"' not in response.content
    assert b'name="name"' in response.content


def test_merchant_list_search_and_no_delete(ops_client, merchant):
    response = ops_client.get("/admin/merchants/merchant/", {"q": merchant.slug})

    assert response.status_code == 200
    assert merchant.slug.encode() in response.content
    assert ops_client.get(f"/admin/merchants/merchant/{merchant.pk}/delete/").status_code == 403


def test_audit_trail_is_visible_to_auditors_and_read_only(client):
    auditor = StaffUserFactory(roles=[roles.AUDITOR])
    client.force_login(auditor)
    event = AuditEvent.objects.order_by("-id").first()

    assert client.get("/admin/audit/auditevent/").status_code == 200
    detail = client.get(f"/admin/audit/auditevent/{event.pk}/change/")
    assert detail.status_code == 200
    assert b'name="action"' not in detail.content  # shown, not editable
    assert client.post(f"/admin/audit/auditevent/{event.pk}/delete/").status_code == 403


def test_audit_trail_is_hidden_from_finance_viewers(client):
    client.force_login(StaffUserFactory(roles=[roles.FINANCE_VIEWER]))

    assert client.get("/admin/audit/auditevent/").status_code == 403
