from __future__ import annotations

import re

import pytest
from django.contrib.staticfiles import finders

pytestmark = pytest.mark.django_db


def test_openapi_schema_describes_the_versioned_api_and_bearer_auth(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")

    schema = response.json()
    assert response.status_code == 200
    assert schema["openapi"].startswith("3.")
    assert "/api/v1/api-keys/{key_id}/revoke" in schema["paths"]
    assert schema["components"]["securitySchemes"]["ApiKeyAuth"]["scheme"] == "bearer"
    revoke = schema["paths"]["/api/v1/api-keys/{key_id}/revoke"]["post"]
    assert any(p["name"] == "Idempotency-Key" for p in revoke["parameters"])


@pytest.mark.parametrize("url", ["/api/docs/"])
def test_interactive_docs_load_only_local_assets(client, url):
    response = client.get(url)

    html = response.content.decode()
    assert response.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets, html
    assert not [a for a in assets if a.startswith(("http:", "https:", "//"))]
    for asset in assets:
        if asset.startswith("/static/"):
            assert finders.find(asset.removeprefix("/static/")), asset


@pytest.mark.parametrize("url", ["/api/schema/", "/api/docs/", "/api/docs/?script="])
def test_schema_and_docs_are_staff_only_unless_made_public(client, settings, url):
    from apps.accounts import roles
    from tests.accounts.factories import StaffUserFactory

    settings.API_DOCS_PUBLIC = False
    anonymous = client.get(url)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/admin/login/")
    client.force_login(StaffUserFactory(roles=[roles.FINANCE_VIEWER]))
    assert client.get(url).status_code == 200
    client.logout()
    settings.API_DOCS_PUBLIC = True
    assert client.get(url).status_code == 200


def test_the_docs_page_runs_no_inline_script_and_sends_a_content_security_policy(client):
    response = client.get("/api/docs/")

    html = response.content.decode()
    assert not re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline script"
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]


def test_api_answers_carry_no_store(client):
    assert client.get("/api/v1/payments")["Cache-Control"] == "no-store"
