"""The admin index names every section in words staff can read: django-otp's device apps show as
"Two-factor: …", not as their labels ("Otp_Totp", "Otp_Static")."""

from __future__ import annotations

import re

import pytest
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.accounts import roles
from tests.accounts.factories import StaffUserFactory

pytestmark = pytest.mark.django_db


def sections(html: str) -> list[str]:
    return re.findall(r'<a href="/admin/[a-z_]+/" class="section"[^>]*>([^<]+)</a>', html)


def test_a_superuser_sees_the_two_factor_sections_by_name_and_manages_devices(client, settings):
    settings.ADMIN_REQUIRE_OTP = False
    superuser = StaffUserFactory(is_superuser=True)
    staff = StaffUserFactory(roles=[roles.FINANCE_APPROVER])
    TOTPDevice.objects.create(user=staff, name="lost phone", confirmed=True)
    StaticDevice.objects.create(user=staff, name="recovery codes", confirmed=True)
    client.force_login(superuser)

    index = client.get("/admin/").content.decode()

    assert "Two-factor: authenticator apps" in sections(index)
    assert "Two-factor: recovery codes" in sections(index)
    assert "Otp_" not in index and "Otp " not in index
    totp_page = client.get("/admin/otp_totp/").content.decode()
    assert "<title>Two-factor: authenticator apps administration | Clearhouse</title>" in totp_page
    assert "lost phone" in client.get("/admin/otp_totp/totpdevice/").content.decode()
    assert "recovery codes" in client.get("/admin/otp_static/staticdevice/").content.decode()


def test_finance_staff_do_not_see_the_device_tables(client, settings):
    settings.ADMIN_REQUIRE_OTP = False
    client.force_login(StaffUserFactory(roles=[roles.FINANCE_APPROVER]))

    index = client.get("/admin/").content.decode()

    assert "Payments" in sections(index)
    assert not [name for name in sections(index) if name.startswith("Two-factor")]
    assert client.get("/admin/otp_totp/totpdevice/").status_code == 403
