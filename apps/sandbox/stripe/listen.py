"""`stripe listen` for the sandbox: watch an account's events as they are made and, with a forward
URL, have them delivered there by the sandbox's own webhook machinery (a registered endpoint,
signed deliveries through the Celery task, retries, faults) and report each delivery's answer.

`stripe_listen` yields the lines to print, as the Stripe CLI writes them:

    2026-12-01 12:00:00   --> payment_intent.succeeded [evt_…]
    2026-12-01 12:00:01  <--  [200] POST http://127.0.0.1:8000/webhooks/stripe/ga_… [evt_…]
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Max
from django.utils import timezone

from apps.sandbox.models import StripeAccount, StripeEvent, StripeNotification, StripeWebhookEndpoint

from .ids import new_id
from .webhooks import new_secret

# A later event may commit before an earlier one (its id is smaller): look back this far for it.
LOOK_BACK = timedelta(seconds=60)


class ListenTimedOut(TimeoutError):
    """The limit of events (and their deliveries) was not reached in time."""


def stripe_listen_endpoint(
    *, account: StripeAccount, url: str, events: Sequence[str] = ("*",)
) -> tuple[StripeWebhookEndpoint, bool]:
    """The account's webhook endpoint for `url`, made (True) or reused, enabled for `events`."""
    wanted = list(events)
    endpoint = StripeWebhookEndpoint.objects.filter(account=account, url=url, deleted=False).order_by("pk").first()
    if endpoint is None:
        endpoint = StripeWebhookEndpoint.objects.create(
            account=account,
            stripe_id=new_id("we_"),
            url=url,
            enabled_events=wanted,
            secret=new_secret(),
            description="manage.py stripe_listen",
        )
        return endpoint, True
    if endpoint.enabled_events != wanted or endpoint.status != "enabled":
        endpoint.enabled_events, endpoint.status = wanted, "enabled"
        endpoint.save(update_fields=["enabled_events", "status"])
    return endpoint, False


def _stamp(moment: datetime | None) -> str:
    return timezone.localtime(moment or timezone.now()).strftime("%Y-%m-%d %H:%M:%S")


@dataclass
class _Delivery:
    event_id: str
    attempts: int = 0
    status: str = StripeNotification.Status.PENDING

    @property
    def answered(self) -> bool:
        return self.attempts > 0 or self.status != StripeNotification.Status.PENDING


def stripe_listen(
    *,
    account: StripeAccount,
    endpoint: StripeWebhookEndpoint | None = None,
    events: Sequence[str] = ("*",),
    limit: int | None = None,
    timeout: float | None = None,
    interval: float = 0.2,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[str]:
    """Lines for each event made from now on (of `events`), oldest first, and for each answer
    `endpoint` gives to its delivery. Ends after `limit` events (each answered, when forwarded),
    else runs until `timeout` seconds (ListenTimedOut if the limit was not reached) or forever."""
    start = StripeEvent.objects.filter(account=account).aggregate(last=Max("pk"))["last"] or 0
    deadline = None if timeout is None else time.monotonic() + timeout
    seen: dict[int, datetime] = {}  # event pk -> when made, pruned after LOOK_BACK
    deliveries: dict[int, _Delivery] = {}  # notification pk -> what was printed of it
    shown = 0
    while True:
        new = StripeEvent.objects.filter(account=account, pk__gt=start).exclude(pk__in=list(seen)).order_by("pk")
        for event in new:
            seen[event.pk] = event.created_at
            if (limit is not None and shown >= limit) or not ("*" in events or event.type in events):
                continue
            shown += 1
            yield f"{_stamp(event.created_at)}   --> {event.type} [{event.stripe_id}]"
            if endpoint is not None:
                notifications = StripeNotification.objects.filter(endpoint=endpoint, event=event)
                for pk in notifications.values_list("pk", flat=True):
                    deliveries[pk] = _Delivery(event.stripe_id)
        if endpoint is not None:
            yield from _answers(endpoint, deliveries)
        start = _prune(seen, start)
        if limit is not None and shown >= limit and all(d.answered for d in deliveries.values()):
            return
        if deadline is not None and time.monotonic() >= deadline:
            if limit is not None:
                answered = sum(d.answered for d in deliveries.values())
                raise ListenTimedOut(
                    f"Stopped after {timeout:g} s: {shown} of {limit} events, {answered} of {len(deliveries)} "
                    "deliveries answered"
                )
            return
        sleep(interval)


def _answers(endpoint: StripeWebhookEndpoint, deliveries: dict[int, _Delivery]) -> Iterator[str]:
    """A line for each delivery attempt recorded since the last look (the latest answer of each)."""
    waiting = [pk for pk, delivery in deliveries.items() if delivery.status == StripeNotification.Status.PENDING]
    if not waiting:
        return
    rows = StripeNotification.objects.filter(pk__in=waiting).order_by("delivered_at", "pk")
    for row in rows.only("pk", "attempts", "status", "last_status_code", "delivered_at"):
        delivery = deliveries[row.pk]
        if row.attempts == delivery.attempts and row.status == delivery.status:
            continue
        delivery.attempts, delivery.status = row.attempts, row.status
        code = "ERR" if row.last_status_code is None else str(row.last_status_code)
        gave_up = " (gave up)" if row.status == StripeNotification.Status.FAILED else ""
        yield f"{_stamp(row.delivered_at)}  <--  [{code}] POST {endpoint.url} [{delivery.event_id}]{gave_up}"


def _prune(seen: dict[int, datetime], start: int) -> int:
    """Forget events older than LOOK_BACK: the new lower bound of the ids to look at."""
    horizon = timezone.now() - LOOK_BACK
    old = [pk for pk, made in seen.items() if made < horizon]
    for pk in old:
        del seen[pk]
    return max([start, *old])
