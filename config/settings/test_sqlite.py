"""The SQLite subset of the suite (`make test` runs it after the PostgreSQL suite): the quickstart's
database and broker, so every code path that branches on the database vendor is tested on both.
Tests marked `sqlite` run here; they need neither PostgreSQL nor Redis."""

from .test import *
from .test import (
    CELERY_QUEUE_NAMES,
    VAR_DIR,
    build_logging_config,
    cache_config,
    celery_beat_settings,
    celery_broker_settings,
    database_config,
    default_exchange_type,
    task_queues,
)

DATABASES = {"default": database_config(f"sqlite:///{VAR_DIR / 'test-sqlite.sqlite3'}")}
DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-sqlite-suite.sqlite3")}
REDIS_URL = ""
CACHES = cache_config("")
CELERY_BROKER_URL, CELERY_BROKER_TRANSPORT_OPTIONS = celery_broker_settings("")
CELERY_BEAT_SCHEDULER, REDBEAT_REDIS_URL = celery_beat_settings(REDIS_URL)
CELERY_TASK_QUEUES = task_queues(CELERY_QUEUE_NAMES, CELERY_BROKER_URL)
CELERY_TASK_DEFAULT_EXCHANGE_TYPE = default_exchange_type(CELERY_BROKER_URL)
LOG_FILE = ""
LOGGING = build_logging_config(level="INFO", fmt="json")
