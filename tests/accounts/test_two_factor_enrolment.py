"""Staff enrolment in two-factor authentication: an authenticator app and recovery codes, shown
once, and the one-step login with either."""

from __future__ import annotations

import base64
import re
from io import StringIO
from urllib.parse import parse_qs, urlparse

import pytest
from django.core.management import call_command
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.accounts import roles
from apps.audit.models import AuditEvent
from tests.accounts.factories import PASSWORD, StaffUserFactory

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"


def login(client, username, **extra):
    return client.post(LOGIN, {"username": username, "password": PASSWORD, **extra})


def code_from(uri: str) -> str:
    secret = parse_qs(urlparse(uri).query)["secret"][0]
    return f"{totp(base64.b32decode(secret + '=' * (-len(secret) % 8))):06d}"


def enrol_in_admin(client, user) -> str:
    """The superuser enrols `user` in the admin; returns the page with the QR code and codes."""
    admin = StaffUserFactory(is_superuser=True)
    client.force_login(admin)
    url = f"/admin/auth/user/{user.pk}/two-factor/"
    assert url in client.get(f"/admin/auth/user/{user.pk}/change/").content.decode()
    assert "Enrol a new authenticator" in client.get(url).content.decode()
    page = client.post(url, {"confirm": "yes"})
    assert page.status_code == 200 and "no-store" in page["Cache-Control"]
    client.logout()
    return page.content.decode()


def test_an_enrolment_in_the_admin_shows_the_qr_code_and_recovery_codes_once(client, settings):
    settings.ADMIN_REQUIRE_OTP = False  # the enrolling superuser's own login is not the subject
    user = StaffUserFactory(roles=[roles.FINANCE_APPROVER])
    TOTPDevice.objects.create(user=user, name="old phone", confirmed=True)

    html = enrol_in_admin(client, user)

    assert "<svg" in html and "otpauth://totp/" in html
    codes = re.findall(r"<li><code>(\w+)</code></li>", html)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert list(TOTPDevice.objects.filter(user=user).values_list("name", flat=True)) == ["default"]
    assert AuditEvent.objects.filter(action="staff.totp_enrolled", target_id=str(user.pk)).count() == 1


def test_the_new_app_code_and_each_recovery_code_log_in_in_one_step(client, settings):
    settings.ADMIN_REQUIRE_OTP = False
    user = StaffUserFactory(roles=[roles.FINANCE_APPROVER])
    html = enrol_in_admin(client, user)
    uri = re.search(r'class="two-factor-uri">([^<]+)<', html).group(1).replace("&amp;", "&")
    code = re.findall(r"<li><code>(\w+)</code></li>", html)[0]
    settings.ADMIN_REQUIRE_OTP = True

    assert login(client, user.username, otp_token=code_from(uri)).status_code == 302  # no device menu
    client.logout()
    assert login(client, user.username, otp_token=code).status_code == 302  # a recovery code
    client.logout()
    again = login(client, user.username, otp_token=code)  # used up
    assert again.status_code == 200 and 'name="otp_device"' not in again.content.decode()
    assert StaticToken.objects.filter(device__user=user).count() == 9


def test_only_whoever_may_change_users_can_enrol_someone(client, settings):
    settings.ADMIN_REQUIRE_OTP = False
    viewer = StaffUserFactory(roles=[roles.AUDITOR])
    client.force_login(viewer)

    response = client.post(f"/admin/auth/user/{viewer.pk}/two-factor/", {"confirm": "yes"})

    assert response.status_code == 403
    assert not TOTPDevice.objects.filter(user=viewer).exists()


def test_create_staff_user_prints_the_recovery_codes_too(settings):
    settings.ADMIN_REQUIRE_OTP = True
    out = StringIO()

    call_command("create_staff_user", "bob", "--role", roles.FINANCE_VIEWER, "--totp", stdout=out)

    line = out.getvalue().split("Recovery codes")[1].splitlines()[1]
    assert len(line.split()) == 10
    assert StaticToken.objects.filter(device__user__username="bob").count() == 10
