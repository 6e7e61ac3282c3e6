"""The site's front page (`GET /`): where the admin, the API's docs and, in dev, the demo
storefronts are; a page of our own under the Content-Security-Policy, not Django's debug 404."""

from __future__ import annotations

import re

import pytest

from apps.audit.actors import Actor
from apps.catalog.services import price_create, product_create
from apps.merchants.services import api_key_create, api_key_revoke
from tests.merchants.factories import MerchantFactory

pytestmark = pytest.mark.django_db

ACTOR = Actor.system("tests")


def on_sale(merchant):
    product = product_create(merchant=merchant, name="Sticker", description="One sticker", actor=ACTOR)
    return price_create(product=product, amount=500, currency="INR", actor=ACTOR)


def links(page: str) -> list[str]:
    return re.findall(r'href="([^"]+)"', page)


def test_the_front_page_links_the_admin_and_the_api_docs_under_the_csp(client, settings):
    settings.DEBUG = True  # as `make run` serves it: an unknown page would be the debug 404

    response = client.get("/")

    assert response.status_code == 200
    page = response.content.decode()
    assert {"/admin/", "/api/docs/", "/api/schema/"} <= set(links(page))
    assert "default-src 'self'" in response["Content-Security-Policy"]
    assert "<script" not in page and "<link" not in page  # nothing inline to allow, nothing from elsewhere
    for path in ["/admin/", "/api/docs/", "/api/schema/"]:
        assert client.get(path).status_code in {200, 302}


def test_in_dev_it_lists_the_storefronts_that_open(client, merchant, price, publishable, settings):
    settings.SANDBOX_ENABLED = True
    no_key, revoked, no_price = (MerchantFactory(name=name) for name in ("No key", "Revoked key", "Nothing on sale"))
    on_sale(no_key)
    on_sale(revoked)
    api_key_revoke(api_key=api_key_create(merchant=revoked, kind="publishable", actor=ACTOR).api_key, actor=ACTOR)
    api_key_create(merchant=no_price, kind="publishable", actor=ACTOR)

    page = client.get("/").content.decode()

    storefronts = [link for link in links(page) if link.startswith("/store/")]
    assert storefronts == [f"/store/{merchant.slug}/"]
    assert client.get(storefronts[0]).status_code == 200
    assert f"Storefront of {merchant.name}" in page


@pytest.mark.parametrize(("sandbox", "storefront"), [(False, True), (True, False)])
def test_storefronts_are_never_listed_outside_dev_or_with_the_storefront_off(
    client, merchant, price, publishable, settings, sandbox, storefront
):
    settings.SANDBOX_ENABLED, settings.STOREFRONT_ENABLED = sandbox, storefront

    page = client.get("/").content.decode()

    assert not [link for link in links(page) if link.startswith("/store/")]
    assert merchant.name not in page
