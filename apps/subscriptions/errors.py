from __future__ import annotations

from apps.core.errors import ApplicationError, ConflictError


class PlanInactive(ConflictError):
    code = "plan_inactive"
    default_message = "This plan is no longer offered."


class PlanNotSupported(ApplicationError):
    code = "plan_not_supported"


class SubscriptionStateError(ConflictError):
    code = "subscription_state_invalid"


class SubscriptionScheduleUnconfirmed(ConflictError):
    """A gateway-run subscription whose schedule the gateway has not confirmed yet (the create's
    answer was lost): a change now could leave the lost schedule charging beside a second one."""

    code = "subscription_schedule_unconfirmed"
    default_message = "The gateway has not confirmed this subscription's schedule yet; retry once it is confirmed."


class PaymentMethodUnusable(ApplicationError):
    code = "payment_method_unusable"
    default_message = "This card cannot pay for this subscription."
