"""The gateway interface for schedules the gateway runs (Authorize.Net ARB): what
apps.subscriptions asks of a recurring gateway, beside apps/gateways/base.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable

from .base import Gateway

# --- schedules the gateway runs (Authorize.Net ARB) ---------------------------------------------


@dataclass(frozen=True)
class RecurringRequest:
    reference: str  # ours, at most 20 characters; sent as the subscription's order invoiceNumber
    name: str
    amount: int  # minor units, per occurrence
    currency: str
    interval_length: int
    interval_unit: str  # "days" (7..365) or "months" (1..12)
    start_date: date
    customer_token: str
    payment_token: str
    total_occurrences: int = 9999  # 9999: until cancelled
    trial_occurrences: int = 0
    trial_amount: int = 0


@dataclass(frozen=True)
class RecurringUpdate:
    """What changes on a running schedule, from its next charge; None: unchanged. A schedule's
    interval and start never change (the gateway refuses): that takes a new schedule."""

    reference: str  # ours, at most 20 characters: the request's own reference (refId)
    currency: str
    name: str | None = None
    amount: int | None = None  # minor units, per occurrence
    customer_token: str = ""  # with payment_token: the saved card the schedule charges
    payment_token: str = ""


@dataclass(frozen=True)
class RecurringCharge:
    transaction_id: str
    pay_num: int
    response: str  # the gateway's short verdict text
    submitted_at: datetime | None = None


class RecurringStatus(StrEnum):
    """A gateway-run schedule's state, in our words (adapters translate theirs)."""

    ACTIVE = "active"
    SUSPENDED = "suspended"  # a payment failed; the gateway stopped charging until it is fixed
    CANCELED = "canceled"
    TERMINATED = "terminated"  # ended by the gateway (or the merchant's account), not by us
    EXPIRED = "expired"  # every occurrence was charged
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class RecurringSchedule:
    recurring_id: str
    status: RecurringStatus
    amount: int
    currency: str
    name: str = ""
    charges: tuple[RecurringCharge, ...] = ()
    customer_token: str = ""  # with payment_token: the saved card the schedule charges
    payment_token: str = ""


@dataclass(frozen=True)
class RecurringListed:
    """A schedule as the gateway lists it: `reference` is the one our create sent."""

    recurring_id: str
    status: RecurringStatus
    reference: str
    customer_token: str


@runtime_checkable
class RecurringGateway(Gateway, Protocol):
    def recurring_create(self, request: RecurringRequest) -> str:
        """The gateway's subscription id. A repeat of the same request after a lost answer
        (the gateway says duplicate) returns the existing id."""
        ...

    def recurring_cancel(self, recurring_id: str) -> None:
        """Cancelling an already cancelled schedule is not an error."""
        ...

    def recurring_update(self, recurring_id: str, update: RecurringUpdate) -> None:
        """Change a running schedule (amount, name, the saved card). Safe to repeat; a new card
        reactivates a schedule the gateway suspended after a decline."""
        ...

    def recurring_status(self, recurring_id: str) -> RecurringStatus: ...

    def recurring_get(self, recurring_id: str) -> RecurringSchedule:
        """The schedule with the charges it has made."""
        ...

    def recurring_running(self) -> list[RecurringListed]:
        """Every schedule of the account that runs or may run again (active, suspended), read
        whole: how one whose create's answer was lost is found without its id (read only)."""
        ...
