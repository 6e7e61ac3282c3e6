from __future__ import annotations

from apps.core.errors import ApplicationError, ConflictError


class EndpointUrlNotAllowed(ApplicationError):
    code = "url_not_allowed"
    default_message = "Webhook endpoints must be public http(s) URLs."


class EventTypeUnknown(ApplicationError):
    code = "event_type_unknown"
    default_message = "Unknown event type."


class DeliveryInProgress(ConflictError):
    code = "delivery_in_progress"
    default_message = "This delivery is being posted right now; resend it once that attempt is recorded."
