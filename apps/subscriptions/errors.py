from __future__ import annotations

from apps.core.errors import ApplicationError, ConflictError


class PlanInactive(ConflictError):
    code = "plan_inactive"
    default_message = "This plan is no longer offered."


class PlanNotSupported(ApplicationError):
    code = "plan_not_supported"


class SubscriptionStateError(ConflictError):
    code = "subscription_state_invalid"


class PaymentMethodUnusable(ApplicationError):
    code = "payment_method_unusable"
    default_message = "This card cannot pay for this subscription."
