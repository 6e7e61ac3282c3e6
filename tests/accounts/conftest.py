from __future__ import annotations

import pytest
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.accounts.factories import PASSWORD, StaffUserFactory


@pytest.fixture
def admin_client(client, settings):
    """A superuser signed in to the admin with password and authenticator code, as in production."""
    settings.ADMIN_REQUIRE_OTP = True
    superuser = StaffUserFactory(is_superuser=True)
    device = TOTPDevice.objects.create(user=superuser, name="phone", confirmed=True)
    code = f"{TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift).token():06d}"
    response = client.post(
        "/admin/login/?next=/admin/", {"username": superuser.username, "password": PASSWORD, "otp_token": code}
    )
    assert response.status_code == 302 and client.get("/admin/").status_code == 200
    client.user = superuser
    return client
