from __future__ import annotations

from typing import Any

from rest_framework import serializers

from apps.api.customer_scope import Ability
from apps.api.fields import InputSerializer, StrictIntegerField
from apps.sessions_api.keys import DEFAULT_LIFETIME_SECONDS, MAX_LIFETIME_SECONDS
from apps.sessions_api.models import CustomerSession


class CustomerSessionCreateSerializer(InputSerializer):
    customer = serializers.CharField(max_length=40, help_text="The customer's id (cus_…)")
    abilities = serializers.ListField(
        child=serializers.ChoiceField(choices=[ability.value for ability in Ability]),
        min_length=1,
        max_length=len(Ability),
    )
    expires_in = StrictIntegerField(
        min_value=1,
        max_value=MAX_LIFETIME_SECONDS,
        default=DEFAULT_LIFETIME_SECONDS,
        help_text=f"Seconds until the token expires (at most {MAX_LIFETIME_SECONDS})",
    )


def customer_session_representation(session: CustomerSession, token: str | None = None) -> dict[str, Any]:
    """A session as the API shows it; its token only in the answer that minted it."""
    body: dict[str, Any] = {
        "id": session.public_id,
        "object": "customer_session",
        "customer": session.customer.public_id,
        "abilities": list(session.abilities),
        "created_at": session.created_at,
        "expires_at": session.expires_at,
        "revoked": session.revoked_at is not None,
        "revoked_at": session.revoked_at,
    }
    if token is not None:
        body["token"] = token
    return body
