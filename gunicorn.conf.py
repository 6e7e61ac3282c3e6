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


def post_worker_init(worker: object) -> None:
    """Once the worker has loaded the application: its URLconf (and with it every view and the
    modules they import) is loaded too, then everything loaded so far is moved out of the garbage
    collector's reach (gc.freeze: it lives as long as the worker), and the youngest generation is
    collected after 20,000 allocations instead of 700. Requests allocate many short-lived objects
    (ORM rows, SDK messages); with the defaults the collector ran several times per request and
    walked the whole loaded application on every older collection."""
    import gc  # noqa: PLC0415

    from django.urls import get_resolver  # noqa: PLC0415 - the application is loaded by now

    get_resolver().url_patterns  # noqa: B018 - loads the URLconf and every view
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 10, 10)
