"""Logging: structlog on top of the standard library, and card-data masking.

Imported by settings, so it must not import Django models or settings.

Masking happens twice on purpose. `CardDataMaskingFilter` is attached to every handler and
cleans the record (message, arguments, structured event values) before it is formatted; the
last renderer stage masks the finished line too, which also covers tracebacks.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import structlog

from .banks import mask_bank_numbers
from .cards import card_number_spans
from .tracing import current_trace_ids

# "cvc": "123", cvv=1234, 'cardCode': '999', <cardCode>123</cardCode> ...
_CVV_FIELD = re.compile(
    r"""(?P<key>\b(?:cvc|cvv2?|cvn|cid|card_?code|security_?code)\b["']?\s*(?:[:=]|>)\s*["']?)(?P<value>[0-9]{3,4})""",
    re.IGNORECASE,
)


def _mask_pans(text: str) -> str:
    spans = card_number_spans(text)
    if not spans:
        return text
    pieces, last = [], 0
    for start, end in spans:
        digits = re.sub(r"[ -]", "", text[start:end])
        pieces += [text[last:start], f"[card ****{digits[-4:]}]"]
        last = end
    return "".join([*pieces, text[last:]])


def mask_card_data(text: str) -> str:
    """Replace every card number standing alone (Luhn-valid, 13-19 digits; never digits inside an
    id: see apps.core.cards), every CVV field and bank account numbers (apps.core.banks)."""
    if not any(char.isdigit() for char in text):
        return text
    text = _mask_pans(text)
    text = _CVV_FIELD.sub(lambda m: f"{m.group('key')}***", text)
    return mask_bank_numbers(text)


def mask_value(value: Any) -> Any:
    if isinstance(value, str):
        return mask_card_data(value)
    if isinstance(value, dict):
        return {key: mask_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(mask_value(item) for item in value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 10**12:
        masked = mask_card_data(str(value))
        return masked if masked != str(value) else value
    return value


class CardDataMaskingFilter(logging.Filter):
    """Masks card numbers and CVVs in a record before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, dict):
            # A structlog event dict on its way to ProcessorFormatter.
            record.msg = mask_value(record.msg)
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to the formatter to report
            return True
        record.msg = mask_card_data(message)
        record.args = None
        return True


def mask_event_dict(_logger: Any, _method: str, event_dict: Any) -> Any:
    return mask_value(event_dict)


def mask_rendered(_logger: Any, _method: str, rendered: Any) -> Any:
    """Runs after the renderer: masks the finished line, tracebacks included."""
    return mask_card_data(rendered) if isinstance(rendered, str) else rendered


def add_trace_ids(_logger: Any, _method: str, event_dict: Any) -> Any:
    """trace_id and span_id of the current span, beside request_id; outside any span, those of the
    request being answered (bound with its request id: Django's response line comes after the
    server span ended); else empty (tracing off). Runs where the line is logged (for standard-library
    records too: the formatter's pre-chain runs in the logging call), so it sees that code's span."""
    trace_id, span_id = current_trace_ids()
    if trace_id:
        event_dict["trace_id"], event_dict["span_id"] = trace_id, span_id
    else:
        event_dict.setdefault("trace_id", "")
        event_dict.setdefault("span_id", "")
    return event_dict


SHARED_PROCESSORS: list[Any] = [
    structlog.contextvars.merge_contextvars,
    add_trace_ids,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def configure_structlog() -> None:
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *SHARED_PROCESSORS,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            mask_event_dict,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def _formatter(renderer: Any) -> dict[str, Any]:
    return {
        "()": structlog.stdlib.ProcessorFormatter,
        "processors": [
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
            mask_rendered,
        ],
        # Standard-library records: their `extra={...}` fields become keys of the line (the
        # request object Django attaches is left out), masked like every other value.
        "foreign_pre_chain": [*SHARED_PROCESSORS, structlog.stdlib.ExtraAdder(), _drop_objects, mask_event_dict],
    }


_UNLOGGED_EXTRAS = ("request", "server_time")


def _drop_objects(_logger: Any, _method: str, event_dict: Any) -> Any:
    for key in _UNLOGGED_EXTRAS:
        event_dict.pop(key, None)
    return event_dict


def build_logging_config(*, level: str, fmt: str, log_file: str = "") -> dict[str, Any]:
    """A dictConfig: JSON lines (`fmt="json"`) or readable console lines (`fmt="console"`)."""
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback)
    )
    handlers: dict[str, Any] = {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "default",
            "filters": ["mask_card_data"],
        }
    }
    if log_file:
        handlers["file"] = {
            "class": "logging.FileHandler",
            "filename": log_file,
            "formatter": "json",
            "filters": ["mask_card_data"],
        }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"mask_card_data": {"()": CardDataMaskingFilter}},
        "formatters": {
            "default": _formatter(renderer),
            "json": _formatter(structlog.processors.JSONRenderer()),
        },
        "handlers": handlers,
        "root": {"handlers": list(handlers), "level": level},
        "loggers": {
            # PyXB (the Authorize.Net SDK's XML binding) warns on every normal parse.
            "pyxb": {"level": "ERROR"},
            # The SDK logs swallowed HTTP errors itself; the adapter records and logs them once.
            "authorizenet.sdk": {"level": "CRITICAL"},
            # The Stripe SDK logs request bodies at DEBUG (raw card fields for server-side test
            # payments): never below WARNING, whatever LOG_LEVEL says.
            "stripe": {"level": "WARNING"},
            # Django's own configuration (applied first) gives `django` a plain console handler with
            # DEBUG on: named here, that handler is dropped and its records reach ours once, like any other.
            # Never below INFO: at DEBUG Django reports every file the autoreloader watches.
            "django": {"handlers": [], "level": "INFO" if level.upper() == "DEBUG" else level, "propagate": True},
            "django.db.backends": {"level": "INFO"},
            # runserver's access lines (request URLs): through the masking too, not Django's own handler.
            "django.server": {"handlers": list(handlers), "level": "INFO", "propagate": False},
            "axes": {"level": "WARNING"},
        },
    }
