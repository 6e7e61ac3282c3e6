"""Base classes for API views: merchant scoping and Idempotency-Key handling."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any, ClassVar

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import ErrorDetail, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from apps.audit.actors import Actor
from apps.core.references import reference_mark_fresh

from .customer_scope import CustomerScope, check_customer_ability, customer_scope_of
from .fields import unknown_parameter
from .idempotency import (
    HEADER,
    REPLAY_HEADER,
    SentResponse,
    StoredResponse,
    idempotency_begin,
    idempotency_finish,
    record_reference,
    request_fingerprint,
    validate_key,
)
from .models import IdempotencyRecord

if TYPE_CHECKING:  # the API's base views sit below the apps whose models they name
    from apps.merchants.models import ApiKey, Merchant

IDEMPOTENCY_PARAMETER = OpenApiParameter(
    name=HEADER,
    type=OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    required=False,
    description="Any unique string (a UUID) of up to 255 characters. Retrying with the same key replays "
    "the first response instead of doing the work twice.",
)

_MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class _Replay(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


def _replay_response(stored: StoredResponse) -> Response:
    """The stored response again: its bytes and content type as first sent (a row stored before
    its bytes were is rendered again from its JSON)."""
    response = Response(stored.body, status=stored.status, headers={REPLAY_HEADER: "true"})
    if stored.content is not None:
        response.content = stored.content  # rendered already: nothing renders it again
        if stored.content_type:
            response["Content-Type"] = stored.content_type
        else:
            del response["Content-Type"]  # sent without one (a 204 has no body)
    return response


def _sent(response: Any) -> SentResponse:
    """What a response sends, rendered now (rendering it later, as Django would, costs the same)."""
    if callable(getattr(response, "render", None)):
        response.render()
    content = None if response.streaming else response.content
    content_type = response.get("Content-Type", "")
    return SentResponse(response.status_code, getattr(response, "data", None), content, content_type)


def query_names(parameters: list[OpenApiParameter]) -> frozenset[str]:
    """The names of the query parameters among an operation's OpenAPI parameters."""
    return frozenset(p.name for p in parameters if p.location == OpenApiParameter.QUERY)


def takes_no_parameters(request: Request) -> None:
    """For operations without a request body: any parameter sent is refused, never ignored."""
    if isinstance(request.data, dict) and request.data:
        raise unknown_parameter(str(next(iter(request.data))))
    if request.data and not isinstance(request.data, dict):
        raise ValidationError({"body": [ErrorDetail("This operation takes no request body.", code="unknown")]})


class MerchantApiView(APIView):
    """An API view whose every query is scoped to the calling key's merchant.

    A query parameter the operation does not document is refused (400 parameter_unknown), never
    ignored: views list theirs per method in `query_parameters` (from their OpenAPI parameters).

    A customer session token (apps.api.customer_scope) reaches only the methods listed in
    `customer_abilities`, with the ability named there; the view scopes its reads to the customer
    with `customer_scope(request)`."""

    query_parameters: ClassVar[dict[str, frozenset[str]]] = {}
    customer_abilities: ClassVar[dict[str, str]] = {}

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # authentication, permissions, throttling
        allowed = self.query_parameters.get(request.method or "", frozenset())
        unknown = [name for name in request.query_params if name not in allowed and name != "format"]
        if unknown:
            raise unknown_parameter(unknown[0])
        empty = [name for name, values in request.query_params.lists() if "" in values]
        if empty:  # `?status=` is a mistake, not "any status"
            raise ValidationError({empty[0]: [ErrorDetail("This parameter must not be empty.", code="invalid")]})

    def check_permissions(self, request: Request) -> None:
        scope = customer_scope_of(request)
        if scope is None:
            super().check_permissions(request)
            return
        method = "GET" if request.method == "HEAD" else request.method or ""
        check_customer_ability(scope, self.customer_abilities.get(method))

    def customer_scope(self, request: Request) -> CustomerScope | None:
        """The customer session a request was made with; None for an API key."""
        return customer_scope_of(request)

    def scoped_customer(self, request: Request) -> str | None:
        """The public id of the only customer whose objects this request may read (a customer
        session's); None: any of the merchant's (an API key)."""
        scope = customer_scope_of(request)
        return scope.customer if scope is not None else None

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        given = request.query_params.get(api_settings.URL_FORMAT_OVERRIDE or "format")
        known = {renderer.format for renderer in self.get_renderers()}
        if not force and given is not None and given not in known:
            raise ValidationError({"format": f"format must be one of: {', '.join(sorted(known))}."})
        return super().perform_content_negotiation(request, force)

    def merchant(self, request: Request) -> Merchant:
        merchant: Merchant = request.user.merchant  # type: ignore[union-attr]
        return merchant

    def api_key(self, request: Request) -> ApiKey:
        return request.auth  # type: ignore[return-value]

    def actor(self, request: Request) -> Actor:
        """Who the request acts as: the API key, or the customer of a customer session."""
        scope = customer_scope_of(request)
        if scope is not None:
            return Actor.customer(scope.customer, scope.session)
        return Actor.api_key(self.api_key(request))

    def livemode(self, request: Request) -> bool:
        """Live or test mode: the key's, or that of the key that minted the customer session."""
        scope = customer_scope_of(request)
        if scope is not None:
            return scope.livemode
        return self.api_key(request).mode == "live"


class IdempotentApiView(MerchantApiView):
    """Honours Idempotency-Key on POST/PUT/PATCH/DELETE (see apps.api.idempotency).

    Handlers pass `self.idempotency_reference` to services that call a gateway, so a retry finds
    the first run's calls, and set `self.outcome_pending` when their answer is not final yet (the
    gateway has not told the outcome): such an answer is sent but not replayed, and the next retry
    asks again.
    """

    _idempotency_record: IdempotencyRecord | None = None
    outcome_pending = False

    @property
    def idempotency_reference(self) -> str:
        """This use of the key's idempotency reference ("" without a key): the same on every retry."""
        record = self._idempotency_record
        return record_reference(record) if record is not None else ""

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # authentication, permissions, throttling
        self._idempotency_record = None
        key = request.headers.get(HEADER)
        if key is None or request.method not in _MUTATING:
            return
        outcome = idempotency_begin(
            merchant=self.merchant(request),
            key=_key_of(request, validate_key(key)),
            method=request.method,
            path=request.path,
            fingerprint=request_fingerprint(method=request.method, path=request.path, body=request.data),
        )
        if isinstance(outcome, StoredResponse):
            raise _Replay(self.replayed(_replay_response(outcome)))
        self._idempotency_record = outcome
        # Never taken over (no earlier holder): its reference has no calls yet (apps.core.references).
        reference_mark_fresh(record_reference(outcome) if outcome.recoveries == 0 else "")

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, _Replay):
            return exc.response
        return super().handle_exception(exc)

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        record, self._idempotency_record = self._idempotency_record, None
        reference_mark_fresh("")
        if record is not None:
            stored = self.to_store(_sent(response))
            idempotency_finish(record=record, response=stored, final=not self.outcome_pending)
        return response

    def to_store(self, sent: SentResponse) -> SentResponse:
        """What is kept of a response for replay (all of it unless a view holds back a secret)."""
        return sent

    def replayed(self, response: Response) -> Response:
        """A stored response about to be replayed (a view that held back a secret puts it back)."""
        return response


def _key_of(request: Request, key: str) -> str:
    """The Idempotency-Key as stored. A customer session's keys are its customer's own (hashed to
    a fixed length under the customer's id): they never meet the merchant's keys, nor another
    customer's, so no one replays (or learns of) a response meant for someone else."""
    scope = customer_scope_of(request)
    if scope is None:
        return key
    return f"{scope.customer}:{hashlib.sha256(key.encode()).hexdigest()}"
