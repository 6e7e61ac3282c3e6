"""POST /api/v1/portal-sessions: a one-time link to the hosted customer portal (secret key)."""

from __future__ import annotations

from urllib.parse import urljoin

from django.conf import settings
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from apps.api.views import IDEMPOTENCY_PARAMETER, IdempotentApiView
from apps.customers.selectors import customer_get
from apps.portal.services import portal_link_create

from .serializers import PortalSessionCreateSerializer


class PortalSessionCreateApi(IdempotentApiView):
    @extend_schema(
        operation_id="portal_sessions_create",
        request=PortalSessionCreateSerializer,
        responses={
            201: OpenApiTypes.OBJECT,
            400: OpenApiResponse(description="Invalid request (error envelope); nothing changed"),
            404: OpenApiResponse(description="No such customer for this merchant"),
        },
        parameters=[IDEMPOTENCY_PARAMETER],
        tags=["customer sessions"],
        description="A link to the hosted customer portal for one customer: open it once, within "
        "PORTAL_LINK_SECONDS (5 minutes by default); it signs the browser in to the portal for up to an hour.",
    )
    def post(self, request: Request) -> Response:
        data = PortalSessionCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        customer = customer_get(merchant=self.merchant(request), public_id=data.validated_data["customer"])
        created = portal_link_create(
            customer=customer,
            return_url=data.validated_data["return_url"],
            livemode=self.livemode(request),
            actor=self.actor(request),
        )
        site = settings.PUBLIC_BASE_URL or request.build_absolute_uri("/")
        link = created.link
        body = {
            "id": link.public_id,
            "object": "portal_session",
            "customer": customer.public_id,
            "url": urljoin(site, reverse("portal:open", args=[created.code])),
            "return_url": link.return_url or None,
            "expires_at": link.expires_at,
            "livemode": link.livemode,
        }
        return Response(body, status=status.HTTP_201_CREATED)
