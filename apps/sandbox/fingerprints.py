"""Card and bank account fingerprints of the sandboxes: a keyed hash (HMAC-SHA256 under the
deployment's SECRET_KEY) of the digits, never the digits. The same number gives the same
fingerprint within one deployment, and nobody without the key can test a guessed number against
a stored fingerprint (a plain hash of a 16-digit card number is found by trying them all)."""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings


def keyed_fingerprint(kind: str, digits: str) -> str:
    """64 hex characters; `kind` keeps one gateway's fingerprints apart from another's."""
    message = f"{kind}:{''.join(digits.split())}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()
