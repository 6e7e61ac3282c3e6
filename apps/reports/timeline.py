"""The timeline of a payment or a customer: every recorded event about it, in time order.

Why here: a payment's history is spread over apps that sit above payments (webhooks in, events
out, the ledger, reconciliation). The payments and customers apps must not import those (the
`acyclic_siblings` contract: they import payments), while the reports app is a reading app that
nothing but the API's URL table imports, so it may read them all. The admin pages stay the
payments' and customers' own: the reports admin registers a "Timeline" section for them through
apps.core.admin_sections, which neither side imports of the other.

Reads only. One query per source (a fixed number whatever the number of entries, never one per
row), each bounded to the newest `TIMELINE_LIMIT` rows; a truncated timeline says so. Not
included: the API's idempotency records, which are tied to a request id and not to a payment (the
request id of each audited change is shown instead), and settlement lines matched by our
reference under another transaction id (lines are found by the gateway transaction ids of the
payment's journal entries, the indexed way in).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Prefetch, Q

from apps.audit.models import ActorType, AuditEvent
from apps.audit.selectors import audit_events_for_targets
from apps.core.money import format_amount
from apps.customers.models import Customer, PaymentMethod
from apps.events.models import Event, WebhookDelivery
from apps.ledger.models import JournalEntry
from apps.payments.models import GatewayTransaction, Payment, Refund, RefundStatus
from apps.reconciliation.models import Discrepancy, MatchStatus, SettlementLine
from apps.subscriptions.models import Invoice, Subscription
from apps.webhooks.models import IncomingWebhook

TIMELINE_LIMIT = 200

_ACTOR_KINDS: dict[str, str] = {
    ActorType.STAFF: "staff",
    ActorType.API_KEY: "API key",
    ActorType.SYSTEM: "system",
    ActorType.GATEWAY: "gateway",
    ActorType.ANONYMOUS: "anonymous",
}


@dataclass(frozen=True)
class TimelineLink:
    """The admin page of a related object: its model label ("payments.refund"), pk and id shown."""

    model: str
    pk: int
    text: str


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str
    summary: str
    actor: str
    link: TimelineLink | None = None


@dataclass(frozen=True)
class Timeline:
    entries: list[TimelineEntry]  # oldest first
    truncated: bool
    limit: int


def _money(amount: int | None, currency: str) -> str:
    return "—" if amount is None else format_amount(amount, currency)


def _actor(label: str, kind: str) -> str:
    return f"{label} ({kind})" if label else kind


# --- entries of each kind of record -------------------------------------------------------------


def _gateway_call(call: GatewayTransaction, gateway: str) -> TimelineEntry:
    response = " / ".join(filter(None, [call.message, call.response_code and f"code {call.response_code}"]))
    summary = (
        f"{call.get_kind_display()} {_money(call.amount, call.currency)}: {call.get_status_display().lower()}"
        f" (reference {call.reference}"
        + (f", gateway id {call.gateway_transaction_id}" if call.gateway_transaction_id else "")
        + ")"
        + (f", {response}" if response else "")
    )
    return TimelineEntry(call.created_at, "Gateway call", summary, _actor(gateway, "gateway"))


def _refund_entries(refund: Refund, gateway: str) -> list[TimelineEntry]:
    link = TimelineLink("payments.refund", refund.pk, refund.public_id)
    money = _money(refund.amount, refund.currency)
    # The label of whoever asked (an API key, a staff user, a billing run): its kind is not kept.
    user = refund.requested_by_user
    requester = _actor(user.get_username(), "staff") if user else refund.requested_by
    reason = f" because: {refund.reason}" if refund.reason else ""
    entries = [
        TimelineEntry(
            refund.created_at,
            "Refund",
            f"Refund of {money} requested{reason}",
            requester,
            link,
        )
    ]
    if refund.decided_at is not None:
        decided = "rejected" if refund.status == RefundStatus.REJECTED else "approved"
        note = f": {refund.decision_note}" if refund.decision_note else ""
        approver = refund.decided_by_user.get_username() if refund.decided_by_user else ""
        entries.append(
            TimelineEntry(
                refund.decided_at, "Approval", f"Refund of {money} {decided}{note}", _actor(approver, "staff"), link
            )
        )
    if refund.status in {RefundStatus.SUCCEEDED, RefundStatus.FAILED}:
        failure = f" ({refund.failure_message or refund.failure_code})" if refund.status == RefundStatus.FAILED else ""
        entries.append(
            TimelineEntry(
                refund.updated_at,
                "Refund",
                f"Refund of {money} {refund.get_status_display().lower()}{failure}",
                _actor(gateway, "gateway"),
                link,
            )
        )
    return entries


def _audit_entry(event: AuditEvent) -> TimelineEntry:
    words = event.action.replace(".", " ").replace("_", " ")
    request = f" (request {event.correlation_id})" if event.correlation_id else ""
    summary = f"{event.target_id}: {words}{request}" if event.target_id else f"{words}{request}"
    actor = _actor(event.actor_label, _ACTOR_KINDS.get(event.actor_type, event.actor_type))
    return TimelineEntry(
        event.occurred_at, "Audit", summary, actor, TimelineLink("audit.auditevent", event.pk, f"#{event.pk}")
    )


def _event_entries(event: Event) -> list[TimelineEntry]:
    entries = [
        TimelineEntry(
            event.created_at,
            "Event out",
            f"{event.type} about {event.object_id}",
            _actor("outbox", "system"),
            TimelineLink("events.event", event.pk, event.public_id),
        )
    ]
    for delivery in event.deliveries.all():
        if delivery.status == WebhookDelivery.Status.SUCCEEDED:
            outcome = f"delivered (HTTP {delivery.last_status_code})"
        else:
            outcome = delivery.get_status_display().lower()
            if delivery.last_status_code or delivery.last_error:
                outcome += f", last answer: {delivery.last_status_code or delivery.last_error}"
        entries.append(
            TimelineEntry(
                delivery.delivered_at or delivery.created_at,
                "Delivery",
                f"{event.type} to {delivery.endpoint.url}: {outcome} after {delivery.attempts} attempt(s)",
                _actor("deliveries", "system"),
                TimelineLink("events.webhookdelivery", delivery.pk, delivery.public_id),
            )
        )
    return entries


def _discrepancy_entries(discrepancy: Discrepancy) -> list[TimelineEntry]:
    link = TimelineLink("reconciliation.discrepancy", discrepancy.pk, discrepancy.public_id)
    currency = discrepancy.currency
    entries = [
        TimelineEntry(
            discrepancy.detected_at,
            "Discrepancy",
            f"{discrepancy.get_kind_display()} found: ours {_money(discrepancy.our_amount, currency)}, "
            f"gateway {_money(discrepancy.gateway_amount, currency)}",
            _actor("reconciliation", "system"),
            link,
        )
    ]
    if discrepancy.resolved_at is not None:
        by = discrepancy.approved_by or discrepancy.requested_by
        entries.append(
            TimelineEntry(
                discrepancy.resolved_at,
                "Discrepancy",
                f"Resolved: {discrepancy.get_resolution_display().lower() or 'no resolution recorded'}"
                + (f" ({_money(discrepancy.resolution_amount, currency)})" if discrepancy.resolution_amount else ""),
                _actor(by.get_username() if by else "", "staff" if by else "system"),
                link,
            )
        )
    return entries


def _finish(entries: list[TimelineEntry], truncated: bool, limit: int) -> Timeline:
    ordered = sorted(entries, key=lambda entry: entry.at)  # stable: a source's own order breaks ties
    if len(ordered) > limit:
        ordered, truncated = ordered[-limit:], True
    return Timeline(ordered, truncated, limit)


# --- the timelines ------------------------------------------------------------------------------


def payment_timeline(*, payment: Payment, limit: int = TIMELINE_LIMIT) -> Timeline:
    """Every recorded event about `payment`, oldest first (at most `limit`, the newest)."""
    gateway = payment.gateway_account.get_gateway_display()
    entries: list[TimelineEntry] = []

    calls = list(GatewayTransaction.objects.filter(payment=payment).order_by("-id")[:limit])
    refunds = list(
        Refund.objects.filter(payment=payment)
        .select_related("requested_by_user", "decided_by_user")
        .order_by("-id")[:limit]
    )
    journal = list(JournalEntry.objects.filter(payment=payment).order_by("-id")[:limit])
    webhooks = list(
        IncomingWebhook.objects.filter(payment=payment)
        .defer("body", "headers", "last_traceback")
        .order_by("-id")[:limit]
    )
    discrepancies = list(
        Discrepancy.objects.filter(Q(payment=payment) | Q(refund__payment=payment))
        .select_related("requested_by", "approved_by")
        .order_by("-id")[:limit]
    )
    lines = list(
        SettlementLine.objects.filter(
            gateway_account_id=payment.gateway_account_id,
            gateway_transaction_id__in={
                entry.gateway_transaction_id for entry in journal if entry.gateway_transaction_id
            },
            entry__in=[entry.pk for entry in journal],
            match_status=MatchStatus.MATCHED,
        )
        .select_related("batch")
        .order_by("-id")[:limit]
    )
    deliveries = WebhookDelivery.objects.select_related("endpoint").order_by("id")
    events = list(
        Event.objects.filter(
            merchant_id=payment.merchant_id, object_id__in=[payment.public_id, *(r.public_id for r in refunds)]
        )
        .only("id", "public_id", "type", "object_id", "created_at")
        .prefetch_related(Prefetch("deliveries", queryset=deliveries))
        .order_by("-id")[:limit]
    )
    audited = {
        "payments.payment": [payment.public_id],
        "payments.refund": [refund.public_id for refund in refunds],
        "ledger.journalentry": [entry.public_id for entry in journal],
        "reconciliation.discrepancy": [discrepancy.public_id for discrepancy in discrepancies],
    }
    audit = audit_events_for_targets(targets=audited, newest=limit)
    truncated = any(
        len(rows) >= limit for rows in (calls, refunds, journal, lines, webhooks, discrepancies, events, audit)
    )

    entries += [_gateway_call(call, gateway) for call in calls]
    for refund in refunds:
        entries += _refund_entries(refund, gateway)
    for webhook in webhooks:
        result = f": {webhook.result}" if webhook.result else ""
        entries.append(
            TimelineEntry(
                webhook.received_at,
                "Webhook in",
                f"{webhook.event_type} ({webhook.event_id}), {webhook.get_status_display().lower()}{result}",
                _actor(webhook.gateway, "gateway"),
                TimelineLink("webhooks.incomingwebhook", webhook.pk, webhook.public_id),
            )
        )
    for event in events:
        entries += _event_entries(event)
    for entry in journal:
        memo = f" ({entry.memo})" if entry.memo else ""
        entries.append(
            TimelineEntry(
                entry.occurred_at,
                "Ledger",
                f"{entry.get_kind_display()} of {_money(entry.amount, entry.currency)} posted{memo}",
                _actor("ledger", "system"),
                TimelineLink("ledger.journalentry", entry.pk, entry.public_id),
            )
        )
    entry_ids = {entry.pk: entry.public_id for entry in journal}
    for line in lines:
        fee = f", fee {_money(line.fee + line.tax, line.currency)}" if line.fee or line.tax else ""
        entries.append(
            TimelineEntry(
                line.batch.settled_at,
                "Settlement",
                f"{line.get_kind_display()} of {_money(line.amount, line.currency)}{fee} settled in batch "
                f"{line.batch.gateway_batch_id}, matched to {entry_ids.get(line.entry_id or 0, '—')}"
                f" by {line.matched_by.replace('_', ' ')}",
                _actor("reconciliation", "system"),
                TimelineLink("reconciliation.settlementline", line.pk, line.gateway_transaction_id),
            )
        )
    for discrepancy in discrepancies:
        entries += _discrepancy_entries(discrepancy)
    entries += [_audit_entry(event) for event in audit]
    return _finish(entries, truncated, limit)


def customer_timeline(*, customer: Customer, limit: int = TIMELINE_LIMIT) -> Timeline:
    """The main events of a customer's payments, refunds, subscriptions, invoices and saved cards,
    and the audit events of the customer, merged oldest first (at most `limit`, the newest)."""
    entries: list[TimelineEntry] = []
    payments = list(Payment.objects.filter(customer=customer).select_related("gateway_account").order_by("-id")[:limit])
    calls = list(
        GatewayTransaction.objects.filter(payment__customer=customer)
        .select_related("gateway_account")
        .order_by("-id")[:limit]
    )
    refunds = list(
        Refund.objects.filter(payment__customer=customer)
        .select_related("requested_by_user", "decided_by_user", "payment__gateway_account")
        .order_by("-id")[:limit]
    )
    subscriptions = list(Subscription.objects.filter(customer=customer).select_related("plan").order_by("-id")[:limit])
    invoices = list(Invoice.objects.filter(subscription__customer=customer).order_by("-id")[:limit])
    cards = list(PaymentMethod.objects.filter(customer=customer).order_by("-id")[:limit])
    audit = audit_events_for_targets(targets={"customers.customer": [customer.public_id]}, newest=limit)
    truncated = any(len(rows) >= limit for rows in (payments, calls, refunds, subscriptions, invoices, cards, audit))

    for payment in payments:
        paid_with = f" on {payment.card_brand} •••• {payment.card_last4}" if payment.card_last4 else ""
        status = payment.get_status_display().lower()
        entries.append(
            TimelineEntry(
                payment.created_at,
                "Payment",
                f"Payment of {_money(payment.amount, payment.currency)}{paid_with}, now {status}",
                _actor(payment.gateway_account.get_gateway_display(), "gateway account"),
                TimelineLink("payments.payment", payment.pk, payment.public_id),
            )
        )
    for call in calls:
        entry = _gateway_call(call, call.gateway_account.get_gateway_display())
        entries.append(
            TimelineEntry(
                entry.at,
                entry.kind,
                entry.summary,
                entry.actor,
                TimelineLink("payments.payment", call.payment_id, call.reference),
            )
        )
    for refund in refunds:
        entries += _refund_entries(refund, refund.payment.gateway_account.get_gateway_display())
    for subscription in subscriptions:
        link = TimelineLink("subscriptions.subscription", subscription.pk, subscription.public_id)
        entries.append(
            TimelineEntry(subscription.created_at, "Subscription", f"Subscribed to {subscription.plan}", "", link)
        )
        for at, what in (
            (subscription.paused_at, "paused"),
            (
                subscription.canceled_at,
                "canceled" + (f" ({subscription.cancellation_reason})" if subscription.cancellation_reason else ""),
            ),
            (subscription.ended_at, "ended"),
        ):
            if at is not None:
                entries.append(TimelineEntry(at, "Subscription", f"Subscription {what}", "", link))
    for invoice in invoices:
        link = TimelineLink("subscriptions.invoice", invoice.pk, invoice.public_id)
        period = f"{invoice.period_start:%Y-%m-%d} to {invoice.period_end:%Y-%m-%d}"
        money = _money(invoice.amount, invoice.currency)
        entries.append(
            TimelineEntry(
                invoice.created_at, "Invoice", f"Invoice of {money} for {period}", _actor("billing", "system"), link
            )
        )
        if invoice.paid_at is not None:
            entries.append(
                TimelineEntry(invoice.paid_at, "Invoice", f"Invoice of {money} paid", _actor("billing", "system"), link)
            )
    for card in cards:
        link = TimelineLink("customers.paymentmethod", card.pk, card.public_id)
        entries.append(TimelineEntry(card.created_at, "Saved card", f"{card} saved", "", link))
        if card.removed_at is not None:
            entries.append(TimelineEntry(card.removed_at, "Saved card", f"{card} removed", "", link))
    entries += [_audit_entry(event) for event in audit]
    return _finish(entries, truncated, limit)
