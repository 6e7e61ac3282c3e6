"""A request made with a customer session token (apps.sessions_api) rather than an API key: the
customer it may act for and what it may do.

It lives here, beneath every app with an API, so their views can scope a read to the customer
without knowing how tokens are made or verified: a view lists the ability each method needs in
`customer_abilities` (apps.api.views.MerchantApiView); any method it does not list refuses a
customer token (403 `customer_session_not_allowed`), and one whose ability the token lacks answers
403 `ability_not_granted`. What the view returns is its own representation, filtered to the
customer; another customer's object is not found (404), as another merchant's is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from apps.core.errors import ApplicationError, ErrorType

if TYPE_CHECKING:  # below the merchants app, whose model it names
    from apps.merchants.models import Merchant


class Ability(StrEnum):
    PAYMENTS_READ = "payments.read"  # payments and their refunds
    INVOICES_READ = "invoices.read"
    SUBSCRIPTIONS_READ = "subscriptions.read"
    PAYMENT_METHODS_MANAGE = "payment_methods.manage"  # read, add, set default, remove
    SUBSCRIPTIONS_MANAGE = "subscriptions.manage"  # cancel at period end, pause, resume


@dataclass(frozen=True)
class CustomerScope:
    """request.user and request.auth of a request made with a verified customer session token."""

    merchant: Merchant
    customer: str  # the customer's public id (cus_…)
    abilities: frozenset[str]
    session: str  # the session's public id (cs_…)
    jti: str
    expires_at: datetime
    livemode: bool = False  # the mode of the key that minted the session (its writes use that mode's gateway)

    is_authenticated = True
    is_anonymous = False
    is_active = True

    @property
    def pk(self) -> str:
        return self.session

    def __str__(self) -> str:
        return f"{self.session} ({self.customer})"


class CustomerSessionNotAllowed(ApplicationError):
    status_code = 403
    error_type = ErrorType.PERMISSION
    code = "customer_session_not_allowed"
    default_message = "A customer session token cannot use this endpoint; call it with your secret key."


class AbilityNotGranted(ApplicationError):
    status_code = 403
    error_type = ErrorType.PERMISSION
    code = "ability_not_granted"
    default_message = "This customer session was not granted the ability this request needs."


def customer_scope_of(request: Any) -> CustomerScope | None:
    """The customer scope of a request made with a customer session token; None for an API key."""
    auth = getattr(request, "auth", None)
    return auth if isinstance(auth, CustomerScope) else None


def check_customer_ability(scope: CustomerScope, needed: str | None) -> None:
    if needed is None:
        raise CustomerSessionNotAllowed()
    if needed not in scope.abilities:
        raise AbilityNotGranted(
            f"This customer session was not granted {needed!r}.", param="abilities", extra={"ability": needed}
        )
