"""The risk section of a payment's admin page: the assessment made before its gateway call.

Registered from apps.risk.admin on "payments.payment"; it reads the payment's stored `risk`
record only, so this app never imports the payments app."""

from __future__ import annotations

from typing import Any

from django.db.models import Model
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from .models import Outcome


def payment_risk_section(request: HttpRequest, payment: Model) -> SafeString:
    stored: dict[str, Any] = getattr(payment, "risk", None) or {}
    risk = None
    if stored:
        outcome = stored.get("outcome", "")
        label = Outcome(outcome).label if outcome in Outcome.values else outcome
        risk = {**stored, "outcome_label": label}
    return mark_safe(render_to_string("admin/risk/payment_risk.html", {"risk": risk}, request=request))  # noqa: S308
