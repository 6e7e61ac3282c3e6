from __future__ import annotations

from typing import Any

from rest_framework import serializers

from apps.api.fields import InputSerializer
from apps.risk.models import ListAction, ListEntry, ListKind


def _choice_errors(choices: list[str]) -> dict[str, Any]:
    # Not DRF's '"{input}" is not a valid choice.': what was sent is never echoed (a card number
    # in a query parameter would be).
    return {"invalid_choice": f"Must be one of: {', '.join(choices)}."}


class ListEntryQuerySerializer(serializers.Serializer[None]):
    """The filters of the list (paging parameters are the paginator's)."""

    kind = serializers.ChoiceField(
        choices=ListKind.values, required=False, error_messages=_choice_errors(ListKind.values)
    )
    action = serializers.ChoiceField(
        choices=ListAction.values, required=False, error_messages=_choice_errors(ListAction.values)
    )


class ListEntryCreateSerializer(InputSerializer):
    """Types only: the value is checked and normalised for its kind by apps.risk.services."""

    kind = serializers.ChoiceField(choices=ListKind.values, error_messages=_choice_errors(ListKind.values))
    action = serializers.ChoiceField(choices=ListAction.values, error_messages=_choice_errors(ListAction.values))
    value = serializers.CharField(
        max_length=255,
        help_text="An email, an email domain (example.com), an IP address or CIDR range, a card fingerprint "
        "(fp_…, never a card number) or a customer id (cus_…), as `kind` says. Emails and domains are stored in "
        "lower case, IP addresses as their canonical network (203.0.113.7 → 203.0.113.7/32).",
    )
    reason = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    expires_at = serializers.DateTimeField(
        required=False, allow_null=True, default=None, help_text="In the future; none: the entry never expires"
    )


class ListEntryOutputSerializer(serializers.ModelSerializer[ListEntry]):
    id = serializers.CharField(source="public_id", help_text="rle_…")
    object = serializers.SerializerMethodField()

    class Meta:
        model = ListEntry
        fields = ["id", "object", "kind", "action", "value", "reason", "expires_at", "created_at"]

    def get_object(self, obj: ListEntry) -> str:
        return "risk_list_entry"
