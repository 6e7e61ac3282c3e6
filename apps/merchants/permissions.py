from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from .models import ApiKey, ApiKeyKind


class SecretKeyRequired(BasePermission):
    """Every API view needs a secret key unless it lists PublishableKeyAllowed instead."""

    message = "This endpoint needs a secret key (sk_…); publishable keys can only use checkout and the catalogue."

    def has_permission(self, request: Request, view: Any) -> bool:
        return isinstance(request.auth, ApiKey) and request.auth.kind == ApiKeyKind.SECRET


class PublishableKeyAllowed(BasePermission):
    """Secret or publishable key (the checkout and catalogue endpoints, called from browsers)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return isinstance(request.auth, ApiKey)
