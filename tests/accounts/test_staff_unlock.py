"""`manage.py staff_unlock`: ops unlock a staff user locked out by failed logins, audited (axes'
own axes_reset* commands audit nothing)."""

from __future__ import annotations

from io import StringIO

import pytest
from axes.models import AccessAttempt
from django.core.management import CommandError, call_command
from django.test import Client

from apps.audit.models import AuditEvent
from tests.accounts.factories import PASSWORD, StaffUserFactory

pytestmark = pytest.mark.django_db


def fail_logins(username: str, address: str, times: int) -> None:
    for _ in range(times):
        Client().post("/admin/login/", {"username": username, "password": "guess-guess-guess"}, REMOTE_ADDR=address)


def test_unlocking_clears_the_failures_audited_and_the_user_signs_in_again(settings):
    user = StaffUserFactory(is_superuser=True)
    fail_logins(user.username, "127.0.0.1", settings.AXES_FAILURE_LIMIT)
    assert Client().post("/admin/login/", {"username": user.username, "password": PASSWORD}).status_code == 429
    out = StringIO()

    call_command("staff_unlock", user.username, stdout=out)

    assert "1 failure record(s) cleared" in out.getvalue()
    assert not AccessAttempt.objects.filter(username=user.username).exists()
    [event] = AuditEvent.objects.filter(action="staff.login_failures_cleared")
    assert (event.actor_type, event.actor_label, event.before["username"]) == ("system", "staff_unlock", user.username)
    assert event.before["failures"] > settings.AXES_FAILURE_LIMIT  # the refused sign-in counted too
    assert Client().post("/admin/login/", {"username": user.username, "password": PASSWORD}).status_code == 302


def test_only_the_address_given_is_cleared_and_nothing_to_clear_is_an_error(settings):
    user = StaffUserFactory()
    fail_logins(user.username, "127.0.0.1", 2)
    fail_logins(user.username, "127.0.0.2", 2)

    call_command("staff_unlock", user.username, "--ip", "127.0.0.2", stdout=StringIO())

    assert list(AccessAttempt.objects.values_list("ip_address", flat=True)) == ["127.0.0.1"]
    with pytest.raises(CommandError, match="nothing to unlock"):
        call_command("staff_unlock", "nobody", stdout=StringIO())
