"""The SQLite subset of the suite (`make test` runs it after the PostgreSQL suite): the quickstart's
database and broker, so every code path that branches on the database vendor is tested on both.
Tests marked `sqlite` run here; they need neither PostgreSQL nor Redis."""

from .test import *
from .test import VAR_DIR, build_logging_config, cache_config, celery_broker_settings, database_config

DATABASES = {"default": database_config(f"sqlite:///{VAR_DIR / 'test-sqlite.sqlite3'}")}
DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-sqlite-suite.sqlite3")}
REDIS_URL = ""
CACHES = cache_config("")
CELERY_BROKER_URL, CELERY_BROKER_TRANSPORT_OPTIONS = celery_broker_settings("")
LOG_FILE = ""
LOGGING = build_logging_config(level="INFO", fmt="json")
