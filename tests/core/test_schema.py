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
