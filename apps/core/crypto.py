"""Field encryption with rotating keys (Fernet: AES-128-CBC + HMAC-SHA256).

FIELD_ENCRYPTION_KEYS holds one or more keys; the first encrypts, every key decrypts. To
rotate: put a new key first, deploy, run the re-encryption command for the encrypted fields,
then drop the old key.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


@lru_cache(maxsize=8)
def _fernet_for(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS is empty")
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(f"FIELD_ENCRYPTION_KEYS holds an invalid key: {exc}") from exc


def _fernet() -> MultiFernet:
    return _fernet_for(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ImproperlyConfigured("Encrypted value cannot be read with FIELD_ENCRYPTION_KEYS") from exc


def reencrypt(token: str) -> str:
    """The same plaintext encrypted with the current primary key."""
    try:
        return _fernet().rotate(token.encode()).decode()
    except InvalidToken as exc:
        raise ImproperlyConfigured("Encrypted value cannot be read with FIELD_ENCRYPTION_KEYS") from exc


def generate_key() -> str:
    return Fernet.generate_key().decode()
