"""Stripe through the official `stripe` SDK: the only module that imports it.

Server-side card payments are PaymentIntents created and confirmed in one call (manual capture
for authorisations); a card that asks for 3-D Secure leaves the intent in `requires_action`, and
the result carries the page where the customer authenticates. Refunds, saved cards (customers,
payment methods, SetupIntents), browser checkout intents, payouts for reconciliation and
webhooks are here too; what Stripe's words mean to us is in stripe_vocabulary.py.

Every write carries our reference as Stripe's `Idempotency-Key` (Stripe replays the first answer
to a repeat) and as `metadata[reference]`, by which a lost answer is found again. SDK facts this
module relies on (../shared/gateway-facts.md §3): a StripeClient retries nothing unless told
(`max_network_retries=0` here: the services decide); the API base is set per client, so an
account reaches our sandbox in dev and test and Stripe in production; errors arrive as
CardError (402), InvalidRequestError, IdempotencyError, AuthenticationError, PermissionError,
RateLimitError, APIConnectionError (chained to the requests exception) and APIError (5xx, 409).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import stripe
from django.conf import settings

from apps.gateways import http
from apps.gateways import stripe_vocabulary as words
from apps.gateways.base import (
    CaptureRequest,
    Card,
    ChargeRequest,
    GatewayResult,
    InvalidSignature,
    MalformedNotification,
    Notification,
    OpaqueToken,
    Outcome,
    RefundRequest,
    SavedCard,
    TransactionDetails,
    VoidRequest,
)
from apps.gateways.errors import (
    GatewayDeclined,
    GatewayError,
    GatewayMisconfigured,
    GatewayNotFound,
    GatewayOutcomeUnknown,
    GatewayRetryable,
)
from apps.gateways.models import GatewayAccount
from apps.gateways.settlement_interface import SettlementBatchData
from apps.gateways.stripe_vault import StripeCheckoutMixin, StripeVaultMixin

logger = logging.getLogger(__name__)

stripe.enable_telemetry = False  # no request timings of ours in headers to Stripe

SIGNATURE_HEADER = "stripe-signature"
SIGNATURE_TOLERANCE_SECONDS = 300
CONNECT_TIMEOUT_SECONDS = 5.0
PAYMENT_METHOD_DESCRIPTOR = words.PAYMENT_METHOD_DESCRIPTOR
# Where a lost PaymentIntent create is looked for by creation time, either side of when we made the
# call: Stripe stamps it when the request arrives, within our timeout (STRIPE_TIMEOUT_SECONDS, no
# SDK retries); the rest is for clocks that differ.
INTENT_LOOKUP_MARGIN = timedelta(minutes=5)
# What we store of an event's id and type (apps.webhooks' columns).
MAX_EVENT_FIELD = 100


@dataclass(frozen=True)
class StripeConfig:
    secret_key: str = field(repr=False)
    publishable_key: str
    webhook_secret: str = field(repr=False)
    api_base: str
    timeout_seconds: float = 30.0


_clients: dict[tuple[str, str, float], stripe.StripeClient] = {}
_clients_lock = threading.Lock()


def _client_for(config: StripeConfig) -> stripe.StripeClient:
    """One client per key and base: its requests client keeps a keep-alive session per thread."""
    key = (config.secret_key, config.api_base, config.timeout_seconds)
    client = _clients.get(key)
    if client is None:
        with _clients_lock:
            client = _clients.get(key)
            if client is None:
                timeout = (min(CONNECT_TIMEOUT_SECONDS, config.timeout_seconds), config.timeout_seconds)
                client = stripe.StripeClient(
                    config.secret_key,
                    base_addresses={"api": config.api_base.rstrip("/")},
                    max_network_retries=0,
                    http_client=stripe.RequestsClient(timeout=timeout),
                )
                _clients[key] = client
    return client


class StripeRequestRefused(GatewayError):
    """An invalid_request_error that is not about a missing object: the request was refused as it
    stands (a wrong state, an amount too large). Final: repeating it will not help."""

    code = "request_refused"

    def __init__(self, message: str, *, stripe_code: str = "", param: str = "") -> None:
        super().__init__(message, reason_code=stripe_code[:10])
        self.stripe_code = stripe_code
        self.param = param


def _error_body(exc: stripe.StripeError) -> dict[str, Any]:
    error = exc.error
    return error.to_dict() if error is not None else {}


def _classify(exc: stripe.StripeError, *, mutating: bool, url: str) -> GatewayError:
    """A Stripe error in our taxonomy (a CardError is turned into a decline by the caller)."""
    body = _error_body(exc)
    message = words.text(body.get("message") or exc.user_message or str(exc))[:255]
    if isinstance(exc, stripe.InvalidRequestError):
        if exc.code == "resource_missing":
            return GatewayNotFound(message)
        return StripeRequestRefused(message, stripe_code=words.text(exc.code), param=words.text(exc.param))
    if isinstance(exc, stripe.IdempotencyError):
        # Our reference was sent before with other parameters: our bug, not the card's.
        return GatewayMisconfigured(f"Stripe idempotency_error: {message}", reason_code="idempotency")
    if isinstance(exc, stripe.AuthenticationError | stripe.PermissionError):
        return GatewayMisconfigured(f"Stripe refused our credentials: {message}")
    if isinstance(exc, stripe.RateLimitError):
        return GatewayRetryable(f"Stripe rate limit: {message}")
    if isinstance(exc, stripe.APIConnectionError) and http.never_sent(exc):
        return GatewayRetryable("Stripe not reached", url=url)
    # A lost connection, a read timeout, a 5xx or a 409 (our key still in flight there): a write
    # may have happened; a read just failed.
    detail = f"{type(exc).__name__}: {message}"[:200]
    if mutating:
        return GatewayOutcomeUnknown(f"Stripe's answer was lost or unclear ({detail})")
    return GatewayRetryable(f"Stripe could not answer ({detail})")


def _declined(exc: stripe.CardError) -> GatewayDeclined:
    body = _error_body(exc)
    intent = body.get("payment_intent") if isinstance(body.get("payment_intent"), dict) else {}
    result = words.intent_result(intent) if intent else None
    return GatewayDeclined(
        GatewayResult(
            Outcome.DECLINED,
            result.transaction_id if result else "",
            response_code="2",
            reason_code=words.text(body.get("decline_code") or body.get("code"))[:10],
            message=words.text(body.get("message") or "The card was declined.")[:255],
            card_brand=result.card_brand if result else "",
            card_last4=result.card_last4 if result else "",
            decline_code=words.decline_code(body),
        )
    )


class StripeGateway(StripeVaultMixin, StripeCheckoutMixin):
    name = "stripe"
    supports_void = True
    voids_captures = False
    supports_partial_capture = True
    requests_three_d_secure = True

    def __init__(self, config: StripeConfig) -> None:
        self.config = config

    # --- plumbing ---------------------------------------------------------------------------

    def _call(self, operation: str, call: Callable[[stripe.StripeClient], Any], *, mutating: bool) -> dict[str, Any]:
        try:
            obj = call(_client_for(self.config))
        except stripe.CardError as exc:
            raise _declined(exc) from exc
        except stripe.StripeError as exc:
            error = _classify(exc, mutating=mutating, url=self.config.api_base)
            logger.info("stripe_call_failed", extra={"operation": operation, "error": error.code})
            raise error from exc
        value: dict[str, Any] = obj.to_dict()
        return value

    def _write(
        self, operation: str, reference: str, call: Callable[[stripe.StripeClient, dict[str, Any]], Any]
    ) -> dict[str, Any]:
        options = {"idempotency_key": reference} if reference else {}
        return self._call(operation, lambda client: call(client, options), mutating=True)

    def _pages(self, operation: str, call: Callable[[stripe.StripeClient], Any]) -> Iterator[dict[str, Any]]:
        try:
            for item in call(_client_for(self.config)).auto_paging_iter():
                yield item.to_dict()
        except stripe.StripeError as exc:
            raise _classify(exc, mutating=False, url=self.config.api_base) from exc

    # --- charges (PaymentIntents) -----------------------------------------------------------

    def authorize(self, request: ChargeRequest) -> GatewayResult:
        return self._charge(request, capture=False)

    def sale(self, request: ChargeRequest) -> GatewayResult:
        return self._charge(request, capture=True)

    def _charge(self, request: ChargeRequest, *, capture: bool) -> GatewayResult:
        params: dict[str, Any] = {
            "amount": request.amount,
            "currency": request.currency.lower(),
            "confirm": True,
            "capture_method": "automatic" if capture else "manual",
            "payment_method_types": ["card"],
            "metadata": {"reference": request.reference},
            "expand": ["payment_method"],
        }
        if request.description:
            params["description"] = request.description[:1000]
        payment = request.payment
        if isinstance(payment, Card):
            params["payment_method_data"] = words.card_data(payment, request.billing)
        elif isinstance(payment, SavedCard):
            params["customer"], params["payment_method"] = payment.customer_token, payment.payment_token
        elif isinstance(payment, OpaqueToken):
            params["payment_method"] = words.payment_method_of(payment)
        if request.off_session:
            params["off_session"] = True
        elif request.return_url:
            params["return_url"] = request.return_url
            if request.request_three_d_secure:
                params["payment_method_options"] = {"card": {"request_three_d_secure": "any"}}
        intent = self._write(
            "payment_intents.create",
            request.reference,
            lambda c, options: c.v1.payment_intents.create(params=params, options=options),  # type: ignore[arg-type]
        )
        result = words.intent_result(intent)
        if result.outcome is Outcome.DECLINED:
            raise GatewayDeclined(result)
        return result

    def capture(self, request: CaptureRequest) -> GatewayResult:
        params: dict[str, Any] = {"amount_to_capture": request.amount, "expand": ["payment_method"]}
        try:
            intent = self._write(
                "payment_intents.capture",
                request.reference,
                lambda c, options: c.v1.payment_intents.capture(request.transaction_id, params=params, options=options),  # type: ignore[arg-type]
            )
        except StripeRequestRefused as exc:
            intent = self._intent(request.transaction_id)  # captured already (a retry of ours)?
            if intent.get("status") != "succeeded":
                raise GatewayDeclined(self._refused(exc, "capture_refused")) from exc
        if intent.get("status") != "succeeded":
            raise GatewayDeclined(self._refused_state(intent, "capture_refused"))
        return words.intent_result(intent)

    def void(self, request: VoidRequest) -> GatewayResult:
        try:
            intent = self._write(
                "payment_intents.cancel",
                request.reference,
                lambda c, options: c.v1.payment_intents.cancel(request.transaction_id, params={}, options=options),  # type: ignore[arg-type]
            )
        except StripeRequestRefused as exc:
            intent = self._intent(request.transaction_id)
            if intent.get("status") != "canceled":
                raise GatewayDeclined(self._refused(exc, "void_refused")) from exc
        return GatewayResult(Outcome.APPROVED, words.text(intent.get("id")), response_code="1", message="Canceled")

    def refund(self, request: RefundRequest) -> GatewayResult:
        params: dict[str, Any] = {
            "payment_intent": request.transaction_id,
            "amount": request.amount,
            "metadata": {"reference": request.reference},
        }
        try:
            refund = self._write(
                "refunds.create",
                request.reference,
                lambda c, options: c.v1.refunds.create(params=params, options=options),  # type: ignore[arg-type]
            )
        except StripeRequestRefused as exc:
            over = exc.stripe_code == "charge_already_refunded" or exc.param == "amount"
            raise GatewayDeclined(self._refused(exc, "refund_exceeds_charge" if over else "refund_refused")) from exc
        status = words.text(refund.get("status"))
        if status in {"failed", "canceled"}:
            raise GatewayDeclined(
                GatewayResult(
                    Outcome.DECLINED,
                    words.text(refund.get("id")),
                    message=words.text(refund.get("failure_reason") or "Refund failed")[:255],
                    decline_code="refund_failed",
                )
            )
        return GatewayResult(
            Outcome.APPROVED, words.text(refund.get("id")), response_code="1", message=f"Refund {status}"
        )

    def _intent(self, intent_id: str) -> dict[str, Any]:
        return self._call(
            "payment_intents.retrieve",
            lambda c: c.v1.payment_intents.retrieve(intent_id, params={"expand": ["payment_method", "latest_charge"]}),
            mutating=False,
        )

    def fetch_transaction(self, transaction_id: str) -> TransactionDetails:
        if transaction_id.startswith("re_"):
            refund = self._call("refunds.retrieve", lambda c: c.v1.refunds.retrieve(transaction_id), mutating=False)
            return words.refund_details(refund)
        return words.intent_details(self._intent(transaction_id))

    def find_transaction(
        self, reference: str, parent_transaction_id: str = "", *, made_at: datetime | None = None
    ) -> TransactionDetails | None:
        """Our call by the reference in its metadata: a refund among its PaymentIntent's refunds;
        a charge by search, then (not found, and `made_at` given) among the PaymentIntents created
        around `made_at`: Stripe's search index may lag behind writes, and "not found" by search
        alone could send a second charge; a list reads what was just written."""
        if parent_transaction_id:
            refunds = self._pages(
                "refunds.list",
                lambda c: c.v1.refunds.list(params={"payment_intent": parent_transaction_id, "limit": 100}),
            )
            found = next((r for r in refunds if words.reference_of(r) == reference), None)
            return words.refund_details(found) if found else None
        if reference.isalnum():  # it goes into a search query
            result = self._call(
                "payment_intents.search",
                lambda c: c.v1.payment_intents.search(
                    params={"query": f"metadata['reference']:'{reference}'", "expand": ["data.payment_method"]}
                ),
                mutating=False,
            )
            intents = [i for i in result.get("data") or [] if words.reference_of(i) == reference]
            if intents:
                return words.intent_details(intents[0])
        if made_at is None:
            return None
        # Not found by search, which may lag behind writes: the list reads what was just written.
        start, end = made_at - INTENT_LOOKUP_MARGIN, made_at + INTENT_LOOKUP_MARGIN
        listed = self._pages(
            "payment_intents.list",
            lambda c: c.v1.payment_intents.list(
                params={"created": {"gte": int(start.timestamp()), "lte": int(end.timestamp())}, "limit": 100}
            ),
        )
        match = next((i for i in listed if words.reference_of(i) == reference), None)
        return words.intent_details(self._intent(str(match["id"]))) if match else None

    # --- settlements (payouts and their balance transactions) --------------------------------

    def settlements(self, *, since: datetime, until: datetime) -> list[SettlementBatchData]:
        """Automatic payouts paid in [since, until) (by arrival date), each with every balance
        transaction it carried (all pages; sources expanded to reach our PaymentIntents, refunds
        and references). Manual payouts carry no transactions of their own (Stripe lists them only
        for automatic payouts): the next automatic payout carries them."""
        payouts = self._pages(
            "payouts.list",
            lambda c: c.v1.payouts.list(
                params={
                    "arrival_date": {"gte": int(since.timestamp()), "lt": int(until.timestamp())},
                    "status": "paid",
                    "limit": 100,
                }
            ),
        )
        batches = [self._payout_batch(payout) for payout in payouts if payout.get("automatic")]
        return sorted(batches, key=lambda batch: (batch.settled_at, batch.batch_id))

    def _payout_batch(self, payout: dict[str, Any]) -> SettlementBatchData:
        payout_id = words.text(payout.get("id"))
        txns = self._pages(
            "balance_transactions.list",
            lambda c: c.v1.balance_transactions.list(
                params={"payout": payout_id, "limit": 100, "expand": ["data.source"]}
            ),
        )
        lines = [line for line in (words.settlement_line(txn, payout_id) for txn in txns) if line is not None]
        settled_at = words.timestamp(payout.get("arrival_date")) or words.timestamp(payout.get("created"))
        assert settled_at is not None  # noqa: S101 - Stripe always dates a payout
        return SettlementBatchData(
            batch_id=payout_id,
            settled_at=settled_at,
            currency=words.text(payout.get("currency")).upper(),
            lines=lines,
            payout_amount=int(payout.get("amount") or 0),
            payout_reference=payout_id,
        )

    # --- helpers ------------------------------------------------------------------------------

    @staticmethod
    def _refused(exc: StripeRequestRefused, decline_code: str) -> GatewayResult:
        return GatewayResult(
            Outcome.DECLINED, "", reason_code=exc.stripe_code[:10], message=exc.message[:255], decline_code=decline_code
        )

    @staticmethod
    def _refused_state(intent: dict[str, Any], decline_code: str) -> GatewayResult:
        status = words.text(intent.get("status"))
        return GatewayResult(
            Outcome.DECLINED,
            words.text(intent.get("id")),
            message=f"PaymentIntent is {status}",
            decline_code=decline_code,
        )


def adapter_for(account: GatewayAccount) -> StripeGateway:
    """The adapter for one of our gateway accounts at Stripe (the registry calls this)."""
    credentials = account.credentials()
    api_base = settings.STRIPE_LIVE_API_BASE if account.mode == "live" else settings.STRIPE_TEST_API_BASE
    return StripeGateway(
        StripeConfig(
            secret_key=credentials["secret_key"],
            publishable_key=credentials.get("publishable_key", ""),
            webhook_secret=credentials.get("webhook_secret", ""),
            api_base=api_base,
            timeout_seconds=settings.STRIPE_TIMEOUT_SECONDS,
        )
    )


# --- webhooks -------------------------------------------------------------------------------------


def parse_notification(body: bytes, headers: dict[str, str], credentials: dict[str, Any]) -> Notification:
    """Verify `Stripe-Signature` (HMAC-SHA256 of `t.body` with the endpoint's secret, any of its
    v1 signatures, at most 300 s old, compared in constant time: the SDK's construct_event) and
    read the event."""
    secret = credentials.get("webhook_secret") or ""
    header = {name.lower(): value for name, value in headers.items()}.get(SIGNATURE_HEADER, "")
    if not secret:
        raise InvalidSignature("no webhook signing secret is configured for this account")
    if not header:
        raise InvalidSignature("no Stripe-Signature header")
    try:
        stripe.Webhook.construct_event(body, header, secret, tolerance=SIGNATURE_TOLERANCE_SECONDS)
    except stripe.SignatureVerificationError as exc:
        raise InvalidSignature(str(exc).split("\n")[0][:200]) from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedNotification("the body is not a Stripe event") from exc
    except TypeError as exc:  # a signature that is not ASCII: hmac.compare_digest refuses to compare it
        raise InvalidSignature("the Stripe-Signature header is not ASCII") from exc
    return read_notification(body, headers)


def read_notification(body: bytes, headers: dict[str, str]) -> Notification:
    try:
        event = json.loads(body)
    except ValueError as exc:
        raise MalformedNotification("the body is not JSON") from exc
    if not isinstance(event, dict) or event.get("object") != "event" or not event.get("id"):
        raise MalformedNotification("the body is not a Stripe event")
    if len(str(event["id"])) > MAX_EVENT_FIELD or len(str(event.get("type", ""))) > MAX_EVENT_FIELD:
        raise MalformedNotification("the event's id or type is longer than any Stripe sends")
    return words.notification(event)


def webhook_signature(body: bytes, secret: str, timestamp: int) -> str:
    """The `Stripe-Signature` header Stripe would send (tests and the sandbox's own checks)."""
    header: str = stripe.WebhookSignature._compute_signature(f"{timestamp}.{body.decode()}", secret)
    return f"t={timestamp},v1={header}"
