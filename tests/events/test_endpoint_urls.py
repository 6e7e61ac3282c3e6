"""URLs no webhook can be sent to are refused with 400 url_not_allowed when an endpoint is created or
changed over the API (never a 500), in prod and in dev alike."""

from __future__ import annotations

import pytest

from apps.events.models import WebhookEndpoint

pytestmark = pytest.mark.django_db

UNUSABLE_URLS = [
    "https://example.com:99999/hook",  # a port out of range
    "https://example.com:0/hook",
    f"https://{'ä' * 60}.example.com/hook",  # a label too long once IDNA-encoded
]


@pytest.mark.parametrize("allow_private", [False, True])
@pytest.mark.parametrize("url", UNUSABLE_URLS)
def test_an_unusable_url_is_refused_on_create(api, settings, url, allow_private):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = allow_private

    response = api.post("/api/v1/webhook-endpoints", {"url": url, "event_types": ["*"]}, format="json")

    assert response.status_code == 400, response.content
    assert (response.json()["error"]["code"], response.json()["error"]["param"]) == ("url_not_allowed", "url")
    assert WebhookEndpoint.objects.count() == 0


@pytest.mark.parametrize("allow_private", [False, True])
@pytest.mark.parametrize("url", UNUSABLE_URLS)
def test_an_unusable_url_is_refused_on_update(api, settings, url, allow_private):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    created = api.post(
        "/api/v1/webhook-endpoints", {"url": "https://93.184.215.14/hook", "event_types": ["*"]}, format="json"
    )
    assert created.status_code == 201, created.content
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = allow_private

    response = api.patch(f"/api/v1/webhook-endpoints/{created.json()['id']}", {"url": url}, format="json")

    assert response.status_code == 400, response.content
    assert (response.json()["error"]["code"], response.json()["error"]["param"]) == ("url_not_allowed", "url")
    assert WebhookEndpoint.objects.get().url == "https://93.184.215.14/hook"
