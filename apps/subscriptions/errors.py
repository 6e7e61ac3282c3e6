from __future__ import annotations

from apps.core.errors import ApplicationError, ConflictError, ErrorType


class PlanInactive(ConflictError):
    code = "plan_inactive"
    default_message = "This plan is no longer offered."


class PlanNotSupported(ApplicationError):
    code = "plan_not_supported"


class SubscriptionStateError(ConflictError):
    code = "subscription_state_invalid"


class SubscriptionBusy(SubscriptionStateError):
    """Another change holds the subscription while its gateway call is out: never stored against an
    Idempotency-Key, so the same key's retry runs once the hold ends."""

    code = "subscription_change_in_progress"
    default_message = "Another change of this subscription is in progress; retry shortly."


class SubscriptionScheduleUnconfirmed(ConflictError):
    """A gateway-run subscription whose schedule the gateway has not confirmed yet (the create's
    answer was lost): a change now could leave the lost schedule charging beside a second one."""

    code = "subscription_schedule_unconfirmed"
    default_message = "The gateway has not confirmed this subscription's schedule yet; retry once it is confirmed."


class SubscriptionScheduleNotConfirmed(SubscriptionScheduleUnconfirmed):
    """The gateway refused a repeat of the schedule's create (sent to learn the id of a schedule
    an earlier create may have made): ours stays open and unconfirmed. 503: the gateway's refusal,
    not a conflict of ours; a keyed retry runs again (neither this answer nor the 409 is stored)."""

    status_code = 503
    error_type = ErrorType.API
    default_message = "The gateway could not confirm this subscription's schedule; retry later."


class PaymentMethodUnusable(ApplicationError):
    code = "payment_method_unusable"
    default_message = "This card cannot pay for this subscription."
