"""Local development and the zero-setup quickstart (`make run`).

With no DATABASE_URL/REDIS_URL: SQLite under var/ and Celery's filesystem broker, so the
asynchronous paths run with no server. Set both to use PostgreSQL and Redis instead.
"""

from .base import *
from .base import (
    CELERY_BEAT_SCHEDULE,
    DEV_APPS,
    INSTALLED_APPS,
    SANDBOX_BEAT,
    VAR_DIR,
    build_logging_config,
    cache_config,
    celery_beat_settings,
    celery_broker_settings,
    database_config,
    env,
)

DEBUG = env.bool("DEBUG", default=True)
(VAR_DIR / "staticfiles").mkdir(parents=True, exist_ok=True)
DATABASES = {"default": database_config(env("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'clearhouse.sqlite3'}"))}

REDIS_URL = env("REDIS_URL", default="")
CACHES = cache_config(REDIS_URL)
CELERY_BROKER_URL, CELERY_BROKER_TRANSPORT_OPTIONS = celery_broker_settings(REDIS_URL)
CELERY_BEAT_SCHEDULER, REDBEAT_REDIS_URL = celery_beat_settings(REDIS_URL)

LOG_FORMAT = env("LOG_FORMAT", default="console")
LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOGGING = build_logging_config(level=LOG_LEVEL, fmt=LOG_FORMAT, log_file=env("LOG_FILE", default=""))

METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=["127.0.0.1/32", "::1/128"])
WEBHOOK_ALLOW_PRIVATE_URLS = env.bool("WEBHOOK_ALLOW_PRIVATE_URLS", default=True)
API_DOCS_PUBLIC = env.bool("API_DOCS_PUBLIC", default=True)

# The gateway sandboxes (the sandbox's stand-in for Authorize.Net's daily ARB job runs hourly),
# the demo data and the benchmark's baselines.
INSTALLED_APPS = [*INSTALLED_APPS, *DEV_APPS]
SANDBOX_ENABLED = True
CELERY_BEAT_SCHEDULE = {**CELERY_BEAT_SCHEDULE, **SANDBOX_BEAT}
# Links in events and e-mails (invoice payment pages) point at the local server.
PUBLIC_BASE_URL = env("PUBLIC_BASE_URL", default="http://127.0.0.1:8000")
