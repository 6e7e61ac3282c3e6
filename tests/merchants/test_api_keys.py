from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from apps.merchants.errors import ApiKeyInvalid
from apps.merchants.keys import hash_secret
from apps.merchants.models import ApiKey
from apps.merchants.services import api_key_authenticate, api_key_create, api_key_revoke

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("mode", ["test", "live"])
def test_key_has_visible_mode_prefix_and_only_its_hash_is_stored(merchant, mode):
    issued = api_key_create(merchant=merchant, mode=mode, name="ci", actor=Actor.system())

    assert issued.secret.startswith(f"sk_{mode}_")
    assert len(issued.secret) == len(f"sk_{mode}_") + 32
    stored = ApiKey.objects.get(pk=issued.api_key.pk)
    assert stored.secret_hash == hash_secret(issued.secret)
    assert stored.display == f"{issued.secret[: len(f'sk_{mode}_') + 4]}…{issued.secret[-4:]}"
    stored_text = " ".join(str(value) for value in ApiKey.objects.filter(pk=stored.pk).values().first().values())
    assert issued.secret not in stored_text


def test_key_creation_is_audited_without_the_secret(merchant):
    issued = api_key_create(merchant=merchant, actor=Actor.system("tests"))

    event = AuditEvent.objects.get(action="api_key.created", target_id=issued.api_key.public_id)
    assert event.merchant_id == merchant.pk
    assert event.actor_label == "tests"
    assert issued.secret not in str(event.after)


def test_authenticate_records_last_used_at_most_once_per_resolution(merchant, settings):
    settings.API_KEY_LAST_USED_RESOLUTION_SECONDS = 60
    issued = api_key_create(merchant=merchant, actor=Actor.system())

    first = api_key_authenticate(secret=issued.secret).last_used_at
    second = api_key_authenticate(secret=issued.secret).last_used_at
    assert first is not None
    assert second == first  # inside the resolution window: no second write

    ApiKey.objects.filter(pk=issued.api_key.pk).update(last_used_at=timezone.now() - timedelta(minutes=5))
    third = api_key_authenticate(secret=issued.secret).last_used_at
    assert third is not None
    assert third > first


def test_revoked_key_no_longer_authenticates_and_revoking_twice_changes_nothing(merchant):
    issued = api_key_create(merchant=merchant, actor=Actor.system())

    revoked = api_key_revoke(api_key=issued.api_key, actor=Actor.system())
    again = api_key_revoke(api_key=issued.api_key, actor=Actor.system())

    assert revoked.revoked_at is not None
    assert again.revoked_at == revoked.revoked_at
    assert AuditEvent.objects.filter(action="api_key.revoked", target_id=issued.api_key.public_id).count() == 1
    with pytest.raises(ApiKeyInvalid) as caught:
        api_key_authenticate(secret=issued.secret)
    assert caught.value.code == "api_key_revoked"


def test_inactive_merchant_cannot_authenticate(merchant):
    issued = api_key_create(merchant=merchant, actor=Actor.system())
    merchant.is_active = False
    merchant.save()

    with pytest.raises(ApiKeyInvalid) as caught:
        api_key_authenticate(secret=issued.secret)
    assert caught.value.code == "merchant_inactive"


def test_create_api_key_command_prints_a_working_key(merchant):
    out = StringIO()
    call_command("create_api_key", "--merchant", merchant.slug, "--mode", "live", stdout=out)

    secret = next(line for line in out.getvalue().splitlines() if line.startswith("sk_live_"))
    assert api_key_authenticate(secret=secret).merchant == merchant


def test_create_api_key_command_quiet_prints_only_the_key(merchant):
    out = StringIO()
    call_command("create_api_key", "--merchant", merchant.slug, "--quiet", stdout=out)

    assert out.getvalue().strip().startswith("sk_test_")
    assert len(out.getvalue().strip().splitlines()) == 1


def test_create_api_key_command_rejects_unknown_merchant():
    with pytest.raises(CommandError, match="No merchant"):
        call_command("create_api_key", "--merchant", "nobody")


def test_revoke_api_key_command(merchant):
    issued = api_key_create(merchant=merchant, actor=Actor.system())
    out = StringIO()

    call_command("revoke_api_key", issued.api_key.public_id, stdout=out)

    assert "Revoked" in out.getvalue()
    assert ApiKey.objects.get(pk=issued.api_key.pk).revoked_at is not None
    with pytest.raises(CommandError):
        call_command("revoke_api_key", "key_missing")


def test_create_merchant_command_and_duplicate_slug():
    out = StringIO()
    call_command("create_merchant", "acme", "--name", "Acme", stdout=out)
    assert "Created merchant acme" in out.getvalue()

    with pytest.raises(CommandError, match="already exists"):
        call_command("create_merchant", "acme", "--name", "Acme again")


def test_create_api_key_command_issues_a_publishable_key(merchant):
    out = StringIO()
    call_command("create_api_key", "--merchant", merchant.slug, "--kind", "publishable", "--quiet", stdout=out)
    key = api_key_authenticate(secret=out.getvalue().strip())
    assert key.kind == "publishable" and key.publishable_key == out.getvalue().strip()
