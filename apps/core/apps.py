from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"
    verbose_name = "Operations"

    def ready(self) -> None:
        from django.core import checks
        from django.core.signals import request_finished

        from . import celery_signals, context, logging, worker_metrics
        from .browser_middleware import check_browser_middleware
        from .redis_checks import check_redis_eviction

        checks.register(check_browser_middleware)
        checks.register(check_redis_eviction, checks.Tags.caches, deploy=True)
        logging.configure_structlog()
        celery_signals.connect()
        worker_metrics.connect()
        request_finished.connect(context.clear_request_context, dispatch_uid="clear_request_context")
