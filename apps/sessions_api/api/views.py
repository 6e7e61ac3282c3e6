"""/api/v1/customer-sessions: minted and revoked by the merchant's backend (secret key)."""

from __future__ import annotations

import json

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from apps.api.idempotency import REPLAY_HEADER, SentResponse
from apps.api.views import IDEMPOTENCY_PARAMETER, IdempotentApiView, takes_no_parameters
from apps.customers.selectors import customer_get
from apps.sessions_api import services
from apps.sessions_api.selectors import customer_session_get

from .serializers import CustomerSessionCreateSerializer, customer_session_representation

ERRORS = {
    400: OpenApiResponse(description="Invalid request (error envelope); nothing changed"),
    404: OpenApiResponse(description="No such customer or session for this merchant"),
    503: OpenApiResponse(description="Revocations cannot be recorded right now (Redis); nothing revoked"),
}
TAGS = ["customer sessions"]


class CustomerSessionCreateApi(IdempotentApiView):
    @extend_schema(
        operation_id="customer_sessions_create",
        request=CustomerSessionCreateSerializer,
        responses={201: OpenApiTypes.OBJECT, **ERRORS},
        parameters=[IDEMPOTENCY_PARAMETER],
        tags=TAGS,
        description="Mint a short-lived token (a JWT) for one customer, for the merchant's frontend: it reads "
        "only that customer's objects, and only those its abilities allow. The token is shown in this answer "
        "only (and in its replay with the same Idempotency-Key).",
    )
    def post(self, request: Request) -> Response:
        data = CustomerSessionCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        customer = customer_get(merchant=self.merchant(request), public_id=values["customer"])
        minted = services.customer_session_create(
            customer=customer,
            abilities=values["abilities"],
            expires_in=values["expires_in"],
            livemode=self.livemode(request),
            actor=self.actor(request),
        )
        return Response(customer_session_representation(minted.session, minted.token), status=status.HTTP_201_CREATED)

    def to_store(self, sent: SentResponse) -> SentResponse:
        """The answer kept for an Idempotency-Key replay holds no token: a replay signs the
        session's token again (services.session_token), so no bearer token sits in the database."""
        if sent.status != status.HTTP_201_CREATED or not isinstance(sent.body, dict) or "token" not in sent.body:
            return sent
        body = {name: value for name, value in sent.body.items() if name != "token"}
        return SentResponse(sent.status, body, JSONRenderer().render(body), sent.content_type)

    def replayed(self, response: Response) -> Response:
        body = json.loads(response.content) if response.content else None
        if response.status_code != status.HTTP_201_CREATED or not isinstance(body, dict) or "id" not in body:
            return response
        session = customer_session_get(merchant=self.merchant(self.request), public_id=body["id"])
        body["token"] = services.session_token(session)
        return Response(body, status=response.status_code, headers={REPLAY_HEADER: "true"})


class CustomerSessionRevokeApi(IdempotentApiView):
    @extend_schema(
        operation_id="customer_sessions_revoke",
        request=None,
        responses={200: OpenApiTypes.OBJECT, **ERRORS},
        parameters=[IDEMPOTENCY_PARAMETER],
        tags=TAGS,
        description="Revoke a session: its token is refused from the next request on. Revoking a revoked "
        "session returns it unchanged.",
    )
    def post(self, request: Request, session_id: str) -> Response:
        takes_no_parameters(request)
        session = customer_session_get(merchant=self.merchant(request), public_id=session_id)
        session = services.customer_session_revoke(session=session, actor=self.actor(request))
        return Response(customer_session_representation(session))


class CustomerSessionsRevokeAllApi(IdempotentApiView):
    @extend_schema(
        operation_id="customer_sessions_revoke_all",
        request=None,
        responses={200: OpenApiTypes.OBJECT, **ERRORS},
        parameters=[IDEMPOTENCY_PARAMETER],
        tags=TAGS,
        description="Revoke every session of a customer minted so far (signing out everywhere); sessions "
        "minted afterwards work.",
    )
    def post(self, request: Request, customer_id: str) -> Response:
        takes_no_parameters(request)
        customer = customer_get(merchant=self.merchant(request), public_id=customer_id)
        revoked = services.customer_sessions_revoke_all(customer=customer, actor=self.actor(request))
        body = {
            "object": "customer_sessions_revocation",
            "customer": customer.public_id,
            "revoked_sessions": revoked.sessions,
            "revoked_at": revoked.revoked_at,
        }
        return Response(body)
