"""The test suite: PostgreSQL and Redis, as in production (DATABASE_URL/REDIS_URL)."""

from urllib.parse import urlsplit, urlunsplit

from django.core.exceptions import ImproperlyConfigured

from config.broker import is_amqp

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

# Under pytest-xdist (`make test` runs the suite on several workers) each worker is a process of
# its own: its own test database (pytest-django suffixes the name with the worker id), its own
# pair of Redis databases, RabbitMQ vhost and log file, so no worker sees another's tasks, cache,
# schedule or log lines. Worker gw0 (and a run without xdist) keeps the default ones. A URL given
# in the environment is used as given (the fault tests hand their app server a Redis of its own),
# except TEST_CELERY_BROKER_URL on RabbitMQ, whose vhost each worker suffixes.
XDIST_WORKER = env("PYTEST_XDIST_WORKER", default="")
XDIST_SLOT = int(XDIST_WORKER[2:]) if XDIST_WORKER.startswith("gw") and XDIST_WORKER[2:].isdigit() else 0
if XDIST_SLOT > 5:
    raise ImproperlyConfigured("the test settings give at most 6 xdist workers a Redis pair of their own (-n 6)")


def for_worker(url: str) -> str:
    """The URL of this worker's share: a Redis database `2 * slot` below the one named, or the
    RabbitMQ vhost with `_gwN` appended (`.ci/run` creates clearhouse_test_gw0 ... _gw5)."""
    if not XDIST_WORKER or not url:
        return url
    parts = urlsplit(url)
    if parts.scheme in ("redis", "rediss"):
        # Only the defaults (15, 14) come here: with at most 6 workers, 4 is the lowest taken.
        return urlunsplit(parts._replace(path=f"/{int(parts.path.strip('/')) - 2 * XDIST_SLOT}"))
    if is_amqp(url):
        vhost = parts.path.rstrip("/")
        if vhost.endswith(f"_{XDIST_WORKER}"):  # a subprocess handed this worker's URL
            return url
        return urlunsplit(parts._replace(path=f"{vhost}_{XDIST_WORKER}"))
    return url


(VAR_DIR / "staticfiles").mkdir(parents=True, exist_ok=True)
DATABASES = {"default": database_config(env("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/clearhouse"))}
DATABASES["default"]["CONN_MAX_AGE"] = 0
DATABASES["default"]["TEST"] = {"NAME": env("TEST_DATABASE_NAME", default="test_clearhouse")}
# The suite commits tens of thousands of short transactions (transactional tests, workers): not
# waiting for each commit's WAL flush makes them several times faster. Only a crash of the
# PostgreSQL server could lose such a commit, and no test crashes it.
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    DATABASES["default"]["OPTIONS"]["options"] = "-c synchronous_commit=off"

# Databases 14 (broker) and 15 (cache) keep the suite away from a running dev system on 0, and
# let tests flush the cache without touching queued tasks.
REDIS_URL = env("REDIS_URL", default=for_worker("redis://127.0.0.1:6379/15"))
CACHES = cache_config(REDIS_URL)
CACHES["default"]["KEY_PREFIX"] = "clearhouse-test"
# TEST_CELERY_BROKER_URL=amqp://... runs the suite's Celery tests on RabbitMQ (`make test-rabbitmq`).
_TEST_BROKER = env("TEST_CELERY_BROKER_URL", default=for_worker("redis://127.0.0.1:6379/14"))
CELERY_BROKER_URL, CELERY_BROKER_TRANSPORT_OPTIONS = celery_broker_settings(
    for_worker(_TEST_BROKER) if is_amqp(_TEST_BROKER) else _TEST_BROKER
)
CELERY_BEAT_SCHEDULER, REDBEAT_REDIS_URL = celery_beat_settings(REDIS_URL)
CELERY_TASK_QUEUES = task_queues(CELERY_QUEUE_NAMES, CELERY_BROKER_URL)
CELERY_TASK_DEFAULT_EXCHANGE_TYPE = default_exchange_type(CELERY_BROKER_URL)

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
API_THROTTLE_RATE = "1000/s"
REST_FRAMEWORK = {**REST_FRAMEWORK, "TEST_REQUEST_DEFAULT_FORMAT": "json"}

# Every log line of the suite also goes to this file, through the same filters as production,
# so tests can prove what never reaches a log.
LOG_FILE = str(VAR_DIR / f"test-logs{'-' + XDIST_WORKER if XDIST_WORKER else ''}.jsonl")
LOGGING = build_logging_config(level="INFO", fmt="json", log_file=LOG_FILE)
WEBHOOK_ALLOW_PRIVATE_URLS = True
API_DOCS_PUBLIC = True  # tests of the staff-only default turn it off

# The gateway sandboxes (the sandbox's stand-in for Authorize.Net's daily ARB job runs hourly),
# the demo data and the benchmark's baselines.
INSTALLED_APPS = [*INSTALLED_APPS, *DEV_APPS]
SANDBOX_ENABLED = True
CELERY_BEAT_SCHEDULE = {**CELERY_BEAT_SCHEDULE, **SANDBOX_BEAT}
