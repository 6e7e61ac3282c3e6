"""`make bench`: production-like (DEBUG off, persistent connections, JSON logs at WARNING) on a
throwaway PostgreSQL database, with the benchmark endpoints mounted and throttling out of the way."""

from .base import *
from .base import cache_config, celery_broker_settings, database_config, env

DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
DATABASES = {
    "default": database_config(env("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/clearhouse_bench"))
}
REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6379/13")
CACHES = cache_config(REDIS_URL)
CELERY_BROKER_URL, CELERY_BROKER_TRANSPORT_OPTIONS = celery_broker_settings(REDIS_URL)
BENCHMARK_ENDPOINTS_ENABLED = True
API_THROTTLE_RATE = "1000000/s"
LOG_LEVEL = "WARNING"
LOGGING["root"]["level"] = "WARNING"
