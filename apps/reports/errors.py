"""What closing a day refuses, each with a stable code (the admin shows the message)."""

from __future__ import annotations

from apps.core.errors import ApplicationError, ConflictError, ErrorType


class DayCloseInvalid(ApplicationError):
    """The day cannot be closed yet (it has not ended, in UTC); `param` names the input."""

    code = "day_close_invalid"
    default_message = "Only a day that has ended (UTC) can be closed."


class DayCloseNotAllowed(ApplicationError):
    status_code = 403
    error_type = ErrorType.PERMISSION
    code = "day_close_not_allowed"
    default_message = "You may not close a day."


class DayAlreadyClosed(ConflictError):
    """Someone closed this day of this account first (the unique constraint decides races)."""

    code = "day_already_closed"
    default_message = "This day is already closed for this gateway account."
