"""`{% change_sections original %}`: the sections other apps registered for this change page
(apps.core.admin_sections). Load with `{% load admin_sections %}`."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.html import format_html_join
from django.utils.safestring import SafeString

from apps.core.admin_sections import change_sections as registered_sections

register = template.Library()


@register.simple_tag(takes_context=True)
def change_sections(context: dict[str, Any], obj: Any) -> SafeString:
    request = context.get("request")
    if request is None:
        return SafeString("")
    return format_html_join("", "{}", ((section,) for section in registered_sections(request, obj)))
