"""`make bench`: production-like (DEBUG off, psycopg's connection pool, JSON logs at WARNING) on a
throwaway PostgreSQL database, with the benchmark endpoints mounted and throttling out of the way."""

from .base import *
from .base import (
    CELERY_BEAT_SCHEDULE,
    DEV_APPS,
    INSTALLED_APPS,
    SANDBOX_BEAT,
    cache_config,
    celery_beat_settings,
    celery_broker_settings,
    database_config,
    env,
)

DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
# As production: psycopg's pool per web process; the Celery worker runs with DB_POOL=false.
DATABASES = {
    "default": database_config(
        env("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/clearhouse_bench"),
        pool=env.bool("DB_POOL", default=True),
    )
}
REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6379/13")
CACHES = cache_config(REDIS_URL)
CELERY_BROKER_URL, CELERY_BROKER_TRANSPORT_OPTIONS = celery_broker_settings(REDIS_URL)
CELERY_BEAT_SCHEDULER, REDBEAT_REDIS_URL = celery_beat_settings(REDIS_URL)
API_THROTTLE_RATE = "1000000/s"
CUSTOMER_SESSION_THROTTLE_RATE = "1000000/s"
CUSTOMER_SESSION_MERCHANT_THROTTLE_RATE = "1000000/s"
LOG_LEVEL = "WARNING"
LOGGING["root"]["level"] = "WARNING"

# The gateway sandboxes (the sandbox's stand-in for Authorize.Net's daily ARB job runs hourly),
# the demo data and the benchmark's baselines.
INSTALLED_APPS = [*INSTALLED_APPS, *DEV_APPS]
SANDBOX_ENABLED = True
CELERY_BEAT_SCHEDULE = {**CELERY_BEAT_SCHEDULE, **SANDBOX_BEAT}
