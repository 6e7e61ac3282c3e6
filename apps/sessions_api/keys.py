"""Key material for customer session tokens: new keys, what verifies with them, their JWKs, and
the fixed terms of every token (audience, issuer, lifetimes, leeway)."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from jwt.algorithms import ECAlgorithm

from apps.merchants.models import Merchant

from .models import SigningAlgorithm, SigningKey

AUDIENCE = "clearhouse:customer"
DEFAULT_LIFETIME_SECONDS = 900
MAX_LIFETIME_SECONDS = 3600
# Clock skew allowed between the host that minted a token and the one that checks it.
LEEWAY_SECONDS = 5


def issuer() -> str:
    """The `iss` of every token: CUSTOMER_SESSION_ISSUER, else the deployment's public URL."""
    return settings.CUSTOMER_SESSION_ISSUER or settings.PUBLIC_BASE_URL or "clearhouse"


def new_key_material(algorithm: str) -> tuple[str, str]:
    """(secret to store encrypted, public key PEM or "") for a new key."""
    if algorithm == SigningAlgorithm.HS256:
        return base64.urlsafe_b64encode(secrets.token_bytes(64)).decode(), ""
    if algorithm == SigningAlgorithm.ES256:
        private_key = ec.generate_private_key(ec.SECP256R1())
        private_pem = private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        public_pem = (
            private_key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )
        return private_pem, public_pem
    raise ValueError(f"Unsupported customer session algorithm {algorithm!r}")


def signing_material(key: SigningKey) -> Any:
    """What PyJWT signs with: the HS256 secret's bytes, or the ES256 private key."""
    secret = key.secret()
    if key.algorithm == SigningAlgorithm.HS256:
        return secret.encode()
    return serialization.load_pem_private_key(secret.encode(), password=None)


def verifies_until(retired_at: datetime | None) -> datetime | None:
    """Until when a key retired at `retired_at` still verifies: until the last token it may have
    signed has expired. None: it is active."""
    if retired_at is None:
        return None
    return retired_at + timedelta(seconds=MAX_LIFETIME_SECONDS + LEEWAY_SECONDS)


@dataclass(frozen=True)
class VerificationKey:
    """What a process keeps of a signing key to verify tokens (apps.sessions_api.key_cache)."""

    kid: str
    algorithm: str
    material: Any  # HS256: the secret's bytes; ES256: the public key
    merchant: Merchant
    retired_at: datetime | None
    compromised: bool = False


def verification_key(key: SigningKey) -> VerificationKey:
    material: Any
    if key.algorithm == SigningAlgorithm.HS256:
        material = key.secret().encode()
    else:
        material = serialization.load_pem_public_key(key.public_key.encode())
    return VerificationKey(
        key.kid, key.algorithm, material, key.merchant, key.retired_at, compromised=key.compromised_at is not None
    )


def public_jwk(key: SigningKey) -> dict[str, Any]:
    """The JWK of an ES256 key's public half (RFC 7517), as the JWKS publishes it."""
    public_key = serialization.load_pem_public_key(key.public_key.encode())
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        raise ValueError(f"{key.kid} holds no elliptic curve public key")
    jwk = ECAlgorithm.to_jwk(public_key, as_dict=True)
    return {**jwk, "kid": key.kid, "alg": key.algorithm, "use": "sig"}
