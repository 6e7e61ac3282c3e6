from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from apps.core import crypto


def test_round_trip_and_ciphertext_hides_the_plaintext():
    token = crypto.encrypt("transaction-key-123")

    assert "transaction-key-123" not in token
    assert crypto.decrypt(token) == "transaction-key-123"


def test_rotation_old_values_still_read_and_reencrypt_moves_them_to_the_new_key(settings):
    old_key, new_key = crypto.generate_key(), crypto.generate_key()
    settings.FIELD_ENCRYPTION_KEYS = [old_key]
    token = crypto.encrypt("secret")

    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    assert crypto.decrypt(token) == "secret"
    rotated = crypto.reencrypt(token)

    settings.FIELD_ENCRYPTION_KEYS = [new_key]
    assert crypto.decrypt(rotated) == "secret"
    with pytest.raises(ImproperlyConfigured):
        crypto.decrypt(token)


@pytest.mark.parametrize("keys", [[], ["not-a-fernet-key"]])
def test_bad_key_configuration_is_reported(settings, keys):
    settings.FIELD_ENCRYPTION_KEYS = keys

    with pytest.raises(ImproperlyConfigured):
        crypto.encrypt("x")
