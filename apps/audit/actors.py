"""Who did something: a staff user, an API key, a merchant's customer, the system itself, a gateway, or
nobody known."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from apps.core.context import current_context

from .models import ActorType


@dataclass(frozen=True)
class Actor:
    type: str
    id: str = ""
    label: str = ""

    @classmethod
    def staff(cls, user: Any) -> Actor:
        return cls(ActorType.STAFF, str(user.pk), user.get_username())

    @classmethod
    def api_key(cls, api_key: Any) -> Actor:
        return cls(ActorType.API_KEY, api_key.public_id, api_key.display)

    @classmethod
    def customer(cls, customer: str, session: str) -> Actor:
        """A merchant's customer acting through a customer session (its token, or the portal
        opened with one): the customer's public id, and the session in the label."""
        return cls(ActorType.CUSTOMER, customer, f"customer session {session}")

    @classmethod
    def system(cls, name: str = "system") -> Actor:
        return cls(ActorType.SYSTEM, "", name)

    @classmethod
    def gateway(cls, name: str) -> Actor:
        return cls(ActorType.GATEWAY, "", name)

    @classmethod
    def anonymous(cls, label: str = "") -> Actor:
        return cls(ActorType.ANONYMOUS, "", label)

    @classmethod
    def from_request(cls, *, fallback: str = "system") -> Actor:
        """The signed-in staff user of the current request, else the system.

        Only for hooks that cannot be handed an actor (auth signals, m2m changes); services
        take an explicit `actor=`.
        """
        context = current_context()
        request = context.request if context else None
        user = getattr(request, "user", None)
        if user is not None and getattr(user, "is_authenticated", False) and hasattr(user, "get_username"):
            return cls.staff(user)
        return cls.system(fallback)
