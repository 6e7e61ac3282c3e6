"""Sections other apps add to an admin change page, below its form.

A page belongs to the app that owns the model, but what it should show may come from apps above
it (the reports app's timeline of a payment reads webhooks, events, reconciliation ... which the
payments app must not import). The app above registers a section here from its admin module; the
page's template renders whatever is registered for its model with `{% change_sections original %}`
(load `admin_sections`). Neither side imports the other, and core imports neither.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import models
from django.http import HttpRequest
from django.utils.safestring import SafeString

ChangeSection = Callable[[HttpRequest, models.Model], SafeString]

_sections: dict[str, list[ChangeSection]] = {}


def register_change_section(model_label: str, section: ChangeSection) -> None:
    """Render `section(request, obj)` on the change page of `model_label` ("payments.payment").
    Called from an app's admin module, once per process (registering it again is a no-op)."""
    registered = _sections.setdefault(model_label.lower(), [])
    if section not in registered:
        registered.append(section)


def change_sections(request: HttpRequest, obj: models.Model | None) -> list[SafeString]:
    """The sections registered for `obj`'s model, rendered in registration order (none on an add page)."""
    if obj is None:
        return []
    return [section(request, obj) for section in _sections.get(obj._meta.label_lower, [])]
