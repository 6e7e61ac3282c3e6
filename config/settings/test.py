"""The test suite: PostgreSQL and Redis, as in production (DATABASE_URL/REDIS_URL)."""

from .base import *
from .base import (
    CELERY_BEAT_SCHEDULE,
    CELERY_QUEUE_NAMES,
    DEV_APPS,
    INSTALLED_APPS,
    REST_FRAMEWORK,
    SANDBOX_BEAT,
    VAR_DIR,
    build_logging_config,
    cache_config,
    celery_beat_settings,
    celery_broker_settings,
    database_config,
    default_exchange_type,
    env,
    task_queues,
)

DEBUG = False
(VAR_DIR / "staticfiles").mkdir(parents=True, exist_ok=True)
DATABASES = {"default": database_config(env("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/clearhouse"))}
DATABASES["default"]["CONN_MAX_AGE"] = 0
DATABASES["default"]["TEST"] = {"NAME": env("TEST_DATABASE_NAME", default="test_clearhouse")}

# Databases 14 (broker) and 15 (cache) keep the suite away from a running dev system on 0, and
# let tests flush the cache without touching queued tasks.
REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6379/15")
CACHES = cache_config(REDIS_URL)
CACHES["default"]["KEY_PREFIX"] = "clearhouse-test"
# TEST_CELERY_BROKER_URL=amqp://... runs the suite's Celery tests on RabbitMQ (`make test-rabbitmq`).
CELERY_BROKER_URL, CELERY_BROKER_TRANSPORT_OPTIONS = celery_broker_settings(
    env("TEST_CELERY_BROKER_URL", default="redis://127.0.0.1:6379/14")
)
CELERY_BEAT_SCHEDULER, REDBEAT_REDIS_URL = celery_beat_settings(REDIS_URL)
CELERY_TASK_QUEUES = task_queues(CELERY_QUEUE_NAMES, CELERY_BROKER_URL)
CELERY_TASK_DEFAULT_EXCHANGE_TYPE = default_exchange_type(CELERY_BROKER_URL)

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
API_THROTTLE_RATE = "1000/s"
REST_FRAMEWORK = {**REST_FRAMEWORK, "TEST_REQUEST_DEFAULT_FORMAT": "json"}

# Every log line of the suite also goes to this file, through the same filters as production,
# so tests can prove what never reaches a log.
LOG_FILE = str(VAR_DIR / "test-logs.jsonl")
LOGGING = build_logging_config(level="INFO", fmt="json", log_file=LOG_FILE)
WEBHOOK_ALLOW_PRIVATE_URLS = True
API_DOCS_PUBLIC = True  # tests of the staff-only default turn it off

# The gateway sandboxes (the sandbox's stand-in for Authorize.Net's daily ARB job runs hourly),
# the demo data and the benchmark's baselines.
INSTALLED_APPS = [*INSTALLED_APPS, *DEV_APPS]
SANDBOX_ENABLED = True
CELERY_BEAT_SCHEDULE = {**CELERY_BEAT_SCHEDULE, **SANDBOX_BEAT}
