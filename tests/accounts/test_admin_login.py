from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.accounts import roles
from apps.audit.models import AuditEvent
from tests.accounts.factories import PASSWORD, StaffUserFactory

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"


def login(client, username, password=PASSWORD, **extra):
    return client.post(LOGIN, {"username": username, "password": password, **extra})


def current_token(device: TOTPDevice) -> str:
    return f"{TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift).token():06d}"


def test_successful_login_is_audited(client):
    user = StaffUserFactory(is_superuser=True)

    response = login(client, user.username)

    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200
    assert AuditEvent.objects.filter(action="staff.login", target_id=str(user.pk)).exists()


def test_failed_logins_are_audited_without_the_password(client):
    user = StaffUserFactory()

    login(client, user.username, password="wrong-password-1")

    event = AuditEvent.objects.get(action="staff.login_failed")
    assert event.after == {"username": user.username}
    assert "wrong-password-1" not in str(event.after) + event.actor_label


def test_repeated_failures_lock_the_account_out_even_for_the_right_password(client, settings):
    user = StaffUserFactory()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        login(client, user.username, password="nope-nope-nope")

    response = login(client, user.username)

    assert response.status_code == 429
    assert AuditEvent.objects.filter(action="staff.locked_out").exists()
    assert not AuditEvent.objects.filter(action="staff.login", target_id=str(user.pk)).exists()


def test_otp_required_refuses_a_password_alone(client, settings):
    settings.ADMIN_REQUIRE_OTP = True
    user = StaffUserFactory(is_superuser=True)
    TOTPDevice.objects.create(user=user, name="phone", confirmed=True)

    response = login(client, user.username)

    assert response.status_code == 200  # the form again, with an error
    assert b"otp_token" in response.content
    assert client.get("/admin/").status_code == 302


def test_with_one_device_the_code_alone_logs_in_and_the_password_is_never_echoed(client, settings):
    settings.ADMIN_REQUIRE_OTP = True
    user = StaffUserFactory(is_superuser=True)
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)

    without_code = login(client, user.username)  # the form again: no code yet
    assert without_code.status_code == 200
    assert PASSWORD.encode() not in without_code.content
    wrong_code = login(client, user.username, otp_token="000000")
    assert wrong_code.status_code == 200 and PASSWORD.encode() not in wrong_code.content
    TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_count=0, throttling_failure_timestamp=None)
    response = login(client, user.username, otp_token=current_token(device))  # no device picked

    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_with_two_devices_the_code_needs_its_device(client, settings):
    settings.ADMIN_REQUIRE_OTP = True
    user = StaffUserFactory(is_superuser=True)
    phone = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    TOTPDevice.objects.create(user=user, name="backup", confirmed=True)

    assert login(client, user.username, otp_token=current_token(phone)).status_code == 200
    assert (
        login(client, user.username, otp_device=phone.persistent_id, otp_token=current_token(phone)).status_code == 302
    )


def test_the_login_page_asks_for_the_code_without_a_device_menu_or_challenge_button(client, settings):
    settings.ADMIN_REQUIRE_OTP = True
    user = StaffUserFactory(is_superuser=True)
    TOTPDevice.objects.create(user=user, name="phone", confirmed=True)

    for page in (client.get(LOGIN), login(client, user.username, otp_token="000000")):
        html = page.content.decode()
        assert 'name="otp_token"' in html and 'autocomplete="one-time-code"' in html
        assert 'name="otp_device"' not in html  # one device: nothing to pick
        assert "otp_challenge" not in html and "Get OTP Challenge" not in html


def test_someone_with_two_devices_is_offered_the_menu_after_the_first_submit(client, settings):
    settings.ADMIN_REQUIRE_OTP = True
    user = StaffUserFactory(is_superuser=True)
    TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    TOTPDevice.objects.create(user=user, name="backup", confirmed=True)

    html = login(client, user.username, otp_token="000000").content.decode()

    assert 'name="otp_device"' in html and ">phone<" in html and ">backup<" in html
    assert "otp_challenge" not in html


def test_otp_required_accepts_password_and_current_totp(client, settings):
    settings.ADMIN_REQUIRE_OTP = True
    user = StaffUserFactory(is_superuser=True)
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)

    response = login(client, user.username, otp_device=device.persistent_id, otp_token=current_token(device))

    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_otp_required_refuses_a_wrong_token_and_audits_it(client, settings):
    settings.ADMIN_REQUIRE_OTP = True
    user = StaffUserFactory(is_superuser=True)
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    wrong = f"{(int(current_token(device)) + 1) % 1_000_000:06d}"

    login(client, user.username, otp_device=device.persistent_id, otp_token=wrong)

    assert client.get("/admin/").status_code == 302
    assert AuditEvent.objects.filter(action="staff.otp_failed", target_id=str(user.pk)).exists()


def test_a_session_without_otp_verification_is_not_let_in(client, settings):
    settings.ADMIN_REQUIRE_OTP = True
    client.force_login(StaffUserFactory(is_superuser=True))

    assert client.get("/admin/").status_code == 302


def test_logout_is_audited(client):
    user = StaffUserFactory(is_superuser=True)
    login(client, user.username)

    client.post("/admin/logout/")

    assert AuditEvent.objects.filter(action="staff.logout", target_id=str(user.pk)).exists()


def test_create_staff_user_with_totp_prints_password_and_provisioning_uri(client, settings):
    settings.ADMIN_REQUIRE_OTP = True
    out = StringIO()

    call_command("create_staff_user", "alice", "--role", roles.AUDITOR, "--totp", stdout=out)

    text = out.getvalue()
    password = next(line.split()[1] for line in text.splitlines() if line.startswith("Password:"))
    assert "otpauth://totp/" in text
    user = get_user_model().objects.get(username="alice")
    assert list(user.groups.values_list("name", flat=True)) == [roles.AUDITOR]
    device = TOTPDevice.objects.get(user=user)
    response = login(
        client, "alice", password=password, otp_device=device.persistent_id, otp_token=current_token(device)
    )
    assert response.status_code == 302
    assert AuditEvent.objects.filter(action="staff.created", target_id=str(user.pk)).exists()


def test_create_staff_user_without_totp_in_dev(settings):
    settings.ADMIN_REQUIRE_OTP = False
    out = StringIO()

    call_command("create_staff_user", "bob", stdout=out)

    assert "otpauth" not in out.getvalue()
    assert not TOTPDevice.objects.filter(user__username="bob").exists()


def test_create_staff_user_rejects_a_taken_username():
    StaffUserFactory(username="carol")

    with pytest.raises(CommandError, match="carol"):
        call_command("create_staff_user", "carol", "--no-totp")
