"""Every kind of secret stored encrypted with FIELD_ENCRYPTION_KEYS registers here how to
re-encrypt its rows (from its AppConfig.ready), so `rotate_field_encryption` reaches them all
without core importing the apps that own them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

# Given the audit actor's label, re-encrypts every row with the first key; returns how many rows.
Reencrypt = Callable[[str], int]


@dataclass(frozen=True)
class EncryptedSecrets:
    what: str  # plural noun phrase for the command's report: "gateway account(s)"
    reencrypt: Reencrypt


_REGISTERED: dict[str, EncryptedSecrets] = {}


def encrypted_secrets_register(what: str, reencrypt: Reencrypt) -> None:
    _REGISTERED[what] = EncryptedSecrets(what, reencrypt)


def encrypted_secrets() -> list[EncryptedSecrets]:
    """In the order the apps registered them (INSTALLED_APPS)."""
    return list(_REGISTERED.values())
