from __future__ import annotations

import pytest

from apps.merchants.models import ApiKey

pytestmark = pytest.mark.django_db


def test_merchant_endpoint_returns_the_callers_merchant(api, merchant):
    response = api.get("/api/v1/merchant")

    assert response.status_code == 200
    assert response.json()["id"] == merchant.public_id
    assert response.json()["object"] == "merchant"


def test_api_key_list_shows_keys_without_secrets(api, api_key, merchant, issue_key):
    issue_key(merchant, name="second")

    response = api.get("/api/v1/api-keys")

    body = response.json()
    assert response.status_code == 200
    assert body["object"] == "list"
    assert [key["name"] for key in body["data"]] == ["second", ""]
    assert api_key.secret not in response.content.decode()
    assert body["data"][1]["display"] == api_key.api_key.display


def test_api_key_list_paginates_with_a_cursor(api, merchant, issue_key):
    for index in range(4):
        issue_key(merchant, name=f"k{index}")

    first = api.get("/api/v1/api-keys?limit=2").json()
    second = api.get(first["next"]).json()

    assert first["has_more"] is True
    assert [k["name"] for k in first["data"]] == ["k3", "k2"]
    assert [k["name"] for k in second["data"]] == ["k1", "k0"]


def test_revoke_through_the_api(api, merchant, issue_key):
    other = issue_key(merchant, name="leaked")

    response = api.post(f"/api/v1/api-keys/{other.api_key.public_id}/revoke")

    assert response.status_code == 200
    assert response.json()["revoked"] is True
    assert ApiKey.objects.get(pk=other.api_key.pk).revoked_at is not None


def test_a_key_can_revoke_itself_and_is_refused_afterwards(api, api_key):
    assert api.post(f"/api/v1/api-keys/{api_key.api_key.public_id}/revoke").status_code == 200

    response = api.get("/api/v1/merchant")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "api_key_revoked"
