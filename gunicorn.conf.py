"""gunicorn settings every gunicorn started from the project root reads (the Docker image's too)."""

import os

# Access and error lines go through the same card-number masking as every other log line.
logger_class = "apps.core.gunicorn_logging.MaskingLogger"


def post_fork(server: object, worker: object) -> None:
    """Tracing starts in each worker, after the fork (the span exporter's thread must belong to the
    worker) and before the worker loads the application (Django's middleware is read then). A no-op
    unless tracing is configured; do not run with --preload, which loads the application first."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.prod")  # as config/wsgi.py
    from apps.core.tracing import tracing_start  # noqa: PLC0415 - once the settings module is set

    tracing_start(role="web")
