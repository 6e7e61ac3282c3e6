"""Django's `manage.py changepassword` and `createsuperuser` change staff privileges from the shell
without an audit event; this project's commands of those names (apps.accounts, listed before
django.contrib.auth) keep Django's prompts and checks and audit the change, with the system as the
actor and never the password or its hash. The password is typed at getpass's prompt; the test
answers it, as Django's own tests do."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command, get_commands

from apps.accounts.apps import check_audited_commands
from apps.audit.models import AuditEvent
from tests.accounts.factories import PASSWORD, StaffUserFactory

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-fresh-passphrase-for-2027"


class Terminal(StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def typed(monkeypatch):
    """What the operator types at getpass's prompts, in order."""
    answers: list[str] = []
    monkeypatch.setattr("getpass.getpass", lambda prompt="Password: ", stream=None: answers.pop(0))
    return answers


def nothing_recorded_of(*secrets: str) -> bool:
    rows = AuditEvent.objects.values_list("before", "after", "actor_label", "target_label")
    return all(secret not in str(row) for row in rows for secret in secrets)


def test_the_audited_commands_serve_the_names():
    assert get_commands()["changepassword"] == get_commands()["createsuperuser"] == "apps.accounts"
    assert check_audited_commands() == []


def test_a_password_changed_from_the_shell_is_audited_without_the_password(typed):
    user = StaffUserFactory(is_superuser=True)
    old_hash = user.password
    typed += [NEW_PASSWORD, NEW_PASSWORD]
    out = StringIO()

    call_command("changepassword", user.username, stdout=out)

    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD) and "Password changed successfully" in out.getvalue()
    [event] = AuditEvent.objects.filter(action="staff.password_changed", target_id=str(user.pk))
    assert (event.actor_type, event.actor_label) == ("system", "changepassword")
    assert (event.before, event.after) == (None, {"usable_password": True})
    assert nothing_recorded_of(NEW_PASSWORD, old_hash, user.password)


@pytest.mark.parametrize(
    "answers",
    [
        pytest.param(["one-passphrase-here", "another-passphrase"] * 3, id="never-matching"),
        pytest.param(["short", "short"] * 3, id="refused-by-the-validators"),
    ],
)
def test_a_password_change_given_up_changes_nothing_and_audits_nothing(typed, answers):
    user = StaffUserFactory()
    typed += answers

    with pytest.raises(CommandError, match="after 3 attempts"):
        call_command("changepassword", user.username, stdout=StringIO(), stderr=StringIO())

    user.refresh_from_db()
    assert user.check_password(PASSWORD)
    assert not AuditEvent.objects.filter(action="staff.password_changed").exists()


def test_changing_the_password_of_nobody_is_an_error(typed):
    with pytest.raises(CommandError, match="does not exist"):
        call_command("changepassword", "nobody", stdout=StringIO())


def test_a_superuser_created_from_the_shell_without_prompts_is_audited(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", NEW_PASSWORD)

    call_command("createsuperuser", "--noinput", username="ops-root", email="ops@example.com", stdout=StringIO())

    user = get_user_model().objects.get(username="ops-root")
    assert user.is_superuser and user.is_staff and user.check_password(NEW_PASSWORD)
    [event] = AuditEvent.objects.filter(action="staff.created", target_id=str(user.pk))
    assert (event.actor_type, event.actor_label) == ("system", "createsuperuser")
    assert event.after == {"is_active": True, "is_staff": True, "is_superuser": True, "usable_password": True}
    assert nothing_recorded_of(NEW_PASSWORD, user.password)


def test_a_superuser_created_at_the_prompts_is_audited(typed, monkeypatch):
    taken = StaffUserFactory()
    answers = [taken.username, "ops-root", "not an address", "ops@example.com"]
    monkeypatch.setattr("builtins.input", lambda prompt="": answers.pop(0))
    typed += [NEW_PASSWORD, NEW_PASSWORD]
    errors = StringIO()

    call_command("createsuperuser", stdin=Terminal(), stdout=StringIO(), stderr=errors)

    user = get_user_model().objects.get(username="ops-root")
    assert user.is_superuser and user.check_password(NEW_PASSWORD)
    [event] = AuditEvent.objects.filter(action="staff.created", target_id=str(user.pk))
    assert user.email == "ops@example.com" and answers == []
    assert "already taken" in errors.getvalue() and "valid email" in errors.getvalue()
    assert event.actor_label == "createsuperuser" and event.after["usable_password"] is True
    assert nothing_recorded_of(NEW_PASSWORD, user.password)


def test_a_superuser_created_without_a_password_has_an_unusable_one_audited_as_such(monkeypatch):
    monkeypatch.delenv("DJANGO_SUPERUSER_PASSWORD", raising=False)

    call_command("createsuperuser", "--noinput", username="ops-root", email="", stdout=StringIO())

    user = get_user_model().objects.get(username="ops-root")
    assert user.is_superuser and not user.has_usable_password()
    [event] = AuditEvent.objects.filter(action="staff.created", target_id=str(user.pk))
    assert event.after["usable_password"] is False


def test_a_taken_username_creates_nothing_and_audits_nothing(monkeypatch):
    taken = StaffUserFactory()
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", NEW_PASSWORD)

    with pytest.raises(CommandError, match="already taken"):
        call_command("createsuperuser", "--noinput", username=taken.username, email="", stdout=StringIO())

    taken.refresh_from_db()
    assert not taken.is_superuser
    assert not AuditEvent.objects.filter(action="staff.created").exists()
