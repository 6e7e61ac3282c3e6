"""Portal branding is set in the admin (docs/api.md): each save goes through an audited service,
with the actor and what changed; nothing is deleted by hand."""

from __future__ import annotations

import threading

import pytest
from django.db import connections, transaction

from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from apps.portal.models import PortalBranding
from apps.portal.services import portal_branding_set
from tests.factories import MerchantFactory
from tests.helpers import wait_for_a_lock_wait

BRANDING = "/admin/portal/portalbranding/"


@pytest.mark.django_db
def test_branding_added_and_changed_in_the_admin_is_audited(admin_client):
    merchant = MerchantFactory()
    user = admin_client.get("/admin/").wsgi_request.user

    added = admin_client.post(
        f"{BRANDING}add/", {"merchant": merchant.pk, "display_name": "Acme", "primary_color": "#112233"}
    )
    branding = PortalBranding.objects.get(merchant=merchant)
    changed = admin_client.post(
        f"{BRANDING}{branding.pk}/change/",
        {"merchant": merchant.pk, "display_name": "Acme Ltd", "primary_color": "#112233"},
    )

    assert (added.status_code, changed.status_code) == (302, 302)
    branding.refresh_from_db()
    assert (branding.display_name, branding.primary_color) == ("Acme Ltd", "#112233")
    created = AuditEvent.objects.get(action="portal_branding.created")
    updated = AuditEvent.objects.get(action="portal_branding.updated")
    assert (created.actor_id, created.merchant_id) == (str(user.pk), merchant.pk)
    assert created.after == {"display_name": "Acme", "primary_color": "#112233"}
    assert (updated.before, updated.after) == ({"display_name": "Acme"}, {"display_name": "Acme Ltd"})


@pytest.mark.django_db
def test_a_bad_colour_is_a_form_error_and_branding_cannot_be_deleted(admin_client):
    branding = PortalBranding.objects.create(merchant=MerchantFactory(), display_name="Acme")
    audited = AuditEvent.objects.count()

    bad = admin_client.post(f"{BRANDING}{branding.pk}/change/", {"display_name": "X", "primary_color": "red"})
    deleted = admin_client.post(f"{BRANDING}{branding.pk}/delete/", {"post": "yes"})

    assert bad.status_code == 200 and b"A colour as #RRGGBB." in bad.content
    assert deleted.status_code == 403
    branding.refresh_from_db()
    assert branding.display_name == "Acme"
    assert AuditEvent.objects.count() == audited


@pytest.mark.django_db(transaction=True)
def test_branding_created_meanwhile_is_changed_not_a_500():
    """Two first saves at once: the second waits on the first's row, then changes it (audited)."""
    merchant = MerchantFactory()
    results = []

    def second() -> None:
        try:
            results.append(
                portal_branding_set(merchant=merchant, display_name="Second", primary_color="#000000",
                                    actor=Actor.system("tests"))
            )  # fmt: skip
        finally:
            connections.close_all()

    with transaction.atomic():
        portal_branding_set(merchant=merchant, display_name="First", primary_color="#ffffff", actor=Actor.system("t"))
        thread = threading.Thread(target=second)
        thread.start()
        wait_for_a_lock_wait("the second save", timeout=10)
    thread.join(timeout=20)

    assert results, "the second save failed"
    branding = PortalBranding.objects.get(merchant=merchant)
    assert (branding.display_name, branding.primary_color) == ("Second", "#000000")
    assert AuditEvent.objects.filter(action="portal_branding.updated", target_id=str(branding.pk)).count() == 1
