"""gunicorn's logger with card-number masking on its access and error logs.

gunicorn logs through its own handlers, not Django's LOGGING, so its access lines (which hold
request URLs) would skip the masking every other log line goes through. `gunicorn.conf.py` at
the project root names this class, so every gunicorn started from there uses it.
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

from .logging import CardDataMaskingFilter


class MaskingLogger(Logger):
    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                if not any(isinstance(f, CardDataMaskingFilter) for f in handler.filters):
                    handler.addFilter(CardDataMaskingFilter())
