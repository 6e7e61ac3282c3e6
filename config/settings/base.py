"""Settings shared by every environment.

Every value comes from the environment through django-environ; `.env.example` lists them all.
Environment modules (dev, test, prod, bench) only change defaults and add what they need.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import django_stubs_ext
import environ
from celery.schedules import crontab
from csp.constants import NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

from apps.core.logging import build_logging_config
from config.broker import amqp_transport_options, default_exchange_type, is_amqp, task_queues

# Lets model/form/admin classes be subscripted for type checking (ModelAdmin[Merchant]).
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parents[2]
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
if env.bool("DJANGO_READ_DOT_ENV_FILE", default=True) and (BASE_DIR / ".env").is_file():
    env.read_env(str(BASE_DIR / ".env"))

# --- Core -------------------------------------------------------------------------------

# Dev/test fallback only; prod.py requires SECRET_KEY.
SECRET_KEY = env("SECRET_KEY", default="dev-insecure-0Zq8m5yF6v3w0N1c9kX2pR7tL4hB8sJ1dG5eA3uV9iQ")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS: list[str] = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS: list[str] = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Frontend apps allowed to call the API from a browser (exact origins, e.g. https://shop.example.com).
CORS_ALLOWED_ORIGINS: list[str] = env.list("CORS_ALLOWED_ORIGINS", default=[])
# The storefront's endpoints (publishable key) and those a customer session token reaches (its own
# payments, refunds, subscriptions, invoices and saved cards). A browser sends no cookie along
# (no CORS_ALLOW_CREDENTIALS): only the credential its script puts in the Authorization header.
CORS_URLS_REGEX = (
    r"^/api/v1/((checkout|catalog)/.*|payments(/[^/]+(/refunds)?)?|refunds/[^/]+"
    r"|subscriptions(/[^/]+(/(cancel|pause|resume|invoices))?)?"
    r"|customers/[^/]+/payment-methods(/[^/]+(/default)?)?)$"
)
CORS_ALLOW_HEADERS = ("authorization", "content-type", "idempotency-key", "x-request-id")

INSTALLED_APPS = [
    "apps.core.admin_config.ClearhouseAdminConfig",
    # Before django.contrib.auth: its own changepassword and createsuperuser (audited) serve those
    # names in place of Django's, which audit nothing (system check accounts.E001).
    "apps.accounts",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_prometheus",
    "django_otp",
    # django-otp's device apps, under names staff can read in the admin (their labels stay).
    "apps.accounts.two_factor_apps.AuthenticatorAppsConfig",
    "apps.accounts.two_factor_apps.RecoveryCodesConfig",
    "axes",
    "corsheaders",
    "apps.core",
    "apps.audit",
    "apps.merchants",
    "apps.api",
    "apps.gateways",
    "apps.events",
    "apps.payments",
    "apps.ledger",
    "apps.reconciliation",
    "apps.reports",
    "apps.catalog",
    "apps.customers",
    "apps.risk",
    "apps.subscriptions",
    "apps.sessions_api",
    "apps.portal",
    "apps.webhooks",
]
# Dev-only apps: the gateway sandboxes, the demo data and the benchmark's baselines. The dev, test
# and bench settings install them (with the sandbox's beat entry); production neither installs,
# migrates nor routes them.
DEV_APPS = ["apps.sandbox", "apps.demo", "apps.bench"]
SANDBOX_BEAT = {"sandbox-arb-run": {"task": "apps.sandbox.tasks.arb_run", "schedule": 3600.0}}

MIDDLEWARE = [
    # HTTP metrics (what the alerts and the dashboard read), outermost so every response counts.
    "apps.core.http_metrics.HttpMetricsMiddleware",
    "apps.core.middleware.RequestContextMiddleware",
    "apps.core.middleware.RequestGuardMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.common.CommonMiddleware",
    # BROWSER_MIDDLEWARE below, for every path but the API's, webhooks', health's and metrics'.
    "apps.core.browser_middleware.BrowserOnlyMiddleware",
]
BROWSER_MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # django-axes wants to be last among the auth-related middleware.
    "axes.middleware.AxesMiddleware",
]
# The admin's, axes' and the deployment checks look for their middleware in MIDDLEWARE only;
# core.E002 checks BROWSER_MIDDLEWARE for them instead (apps.core.browser_middleware).
SILENCED_SYSTEM_CHECKS = ["admin.E408", "admin.E409", "admin.E410", "axes.W002", "security.W002", "security.W003"]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Database ---------------------------------------------------------------------------


def database_config(url: str, *, pool: bool = False) -> dict[str, Any]:
    """Parse DATABASE_URL and add the options we want on each engine.

    PostgreSQL connections are not kept between requests (CONN_MAX_AGE 0): runserver starts a
    thread per request and kept connections leak until "too many clients". Production passes
    `pool=True` for psycopg's connection pool instead (bounded by DB_POOL_MAX_SIZE per process).
    Parameters are bound on the server and a statement run DB_PREPARE_THRESHOLD times on a
    connection is prepared there (Django's default never prepares); DB_SERVER_SIDE_BINDING=false
    behind a pooler that does not track prepared statements."""
    config: dict[str, Any] = env.db_url_config(url)
    engine = config["ENGINE"]
    if engine.endswith("postgresql"):
        # Django's backend counting queries and errors in django-prometheus's metrics.
        config["ENGINE"] = "apps.core.postgresql"
        config["CONN_MAX_AGE"] = 0
        config["CONN_HEALTH_CHECKS"] = not pool
        config.setdefault("OPTIONS", {})
        config["OPTIONS"].setdefault("connect_timeout", 5)
        if env.bool("DB_SERVER_SIDE_BINDING", default=True):
            config["OPTIONS"]["server_side_binding"] = True
            config["OPTIONS"]["prepare_threshold"] = env.int("DB_PREPARE_THRESHOLD", default=2)
        if pool:
            config["OPTIONS"]["pool"] = {
                "min_size": env.int("DB_POOL_MIN_SIZE", default=1),
                "max_size": env.int("DB_POOL_MAX_SIZE", default=10),
                "timeout": env.int("DB_POOL_TIMEOUT_SECONDS", default=10),
            }
    elif engine.endswith("sqlite3"):
        # Quickstart only: web, worker and beat share one file, so take the write lock at
        # BEGIN (no lock upgrades that deadlock) and use WAL so readers do not block writers.
        config["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    return config


# --- Cache and Celery -------------------------------------------------------------------

REDIS_URL: str = env("REDIS_URL", default="")


def cache_config(redis_url: str) -> dict[str, Any]:
    if redis_url:
        return {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": redis_url,
                "KEY_PREFIX": env("CACHE_KEY_PREFIX", default="clearhouse"),
                "TIMEOUT": 300,
            }
        }
    return {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


def celery_broker_settings(redis_url: str) -> tuple[str, dict[str, Any]]:
    """Broker URL and transport options: CELERY_BROKER_URL (RabbitMQ or Redis), else Redis when
    configured, else the filesystem transport."""
    broker_url: str = env("CELERY_BROKER_URL", default="") or redis_url
    if is_amqp(broker_url):
        return broker_url, amqp_transport_options()
    if broker_url:
        # Longer than any countdown a task schedules itself (long waits live in the database
        # and a sweeper re-enqueues them), so Redis never redelivers a merely delayed task.
        return broker_url, {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)}
    folder = VAR_DIR / "celery"
    for sub in ("queue", "processed", "control"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    # A host name, though the transport uses none: without one kombu warns "No hostname was
    # supplied" on every connection it makes.
    return "filesystem://localhost//", {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"),
        "store_processed": False,
        # The exchanges' bindings: kombu's default is a `control/` folder in the current directory.
        "control_folder": str(folder / "control"),
    }


def celery_beat_settings(redis_url: str) -> tuple[str, str]:
    """Beat's scheduler class and the Redis it keeps its state in.

    With Redis, RedBeat: each entry's last run is kept in Redis, and a beat sends only while it
    holds a lock there (SET NX with an expiry, renewed every tick), so a second beat, on another
    host, waits idle and takes over when the lock is released or expires, neither repeating nor
    skipping a run. Without Redis (the quickstart: one beat, no lock), Celery's own scheduler and
    its state in the --schedule file."""
    if redis_url:
        return "redbeat.RedBeatScheduler", redis_url
    return "celery.beat:PersistentScheduler", ""


CACHES = cache_config(REDIS_URL)
CELERY_BROKER_URL, CELERY_BROKER_TRANSPORT_OPTIONS = celery_broker_settings(REDIS_URL)
CELERY_BEAT_SCHEDULER, REDBEAT_REDIS_URL = celery_beat_settings(REDIS_URL)
# RedBeat's settings keep their own names: it looks them up without Celery's CELERY_ namespace
# (with it, it ignores REDBEAT_REDIS_OPTIONS and warns at every start).
# Several deployments sharing one Redis keep their schedules apart as they keep their caches apart.
REDBEAT_KEY_PREFIX = env("CACHE_KEY_PREFIX", default="clearhouse") + ":redbeat:"
# A beat that cannot reach Redis stops (and is restarted) rather than retrying in the middle of a
# tick, where its lock could expire and a second beat send the same entries.
REDBEAT_REDIS_OPTIONS = {"socket_connect_timeout": 3, "socket_timeout": 5}
# A beat wakes at least this often: the leader renews its lock, a standby tries to take it.
CELERY_BEAT_MAX_LOOP_INTERVAL = 5
# How long a beat that died keeps the lock: the longest pause in scheduling when the leader crashes
# (a beat stopped with SIGTERM releases it at once). The leader renews it every tick, so it must
# outlast a wait between ticks and the tick itself.
REDBEAT_LOCK_TIMEOUT = env.int("BEAT_LOCK_TIMEOUT_SECONDS", default=30)
if REDBEAT_LOCK_TIMEOUT <= CELERY_BEAT_MAX_LOOP_INTERVAL:
    raise ImproperlyConfigured(f"BEAT_LOCK_TIMEOUT_SECONDS must exceed {CELERY_BEAT_MAX_LOOP_INTERVAL}")
CELERY_BROKER_CONNECTION_TIMEOUT = 3
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "UTC"
# At-least-once delivery: ack after the task ran, give the message back if the worker dies,
# and never hold more than one unacknowledged message per process.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=300)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=240)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_WORKER_SEND_TASK_EVENTS = False
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_QUEUE_NAMES = ["default", "webhooks", "deliveries", "billing"]
# On RabbitMQ: quorum queues behind topic exchanges (config/broker.py). Settings modules that
# change CELERY_BROKER_URL set these two again.
CELERY_TASK_QUEUES = task_queues(CELERY_QUEUE_NAMES, CELERY_BROKER_URL)
CELERY_TASK_DEFAULT_EXCHANGE_TYPE = default_exchange_type(CELERY_BROKER_URL)
# Separate queues, so a flood of one kind of work cannot starve the others.
CELERY_TASK_ROUTES = {
    "apps.webhooks.tasks.incoming_webhook*": {"queue": "webhooks"},
    "apps.events.tasks.*": {"queue": "deliveries"},
    # Names the events tasks had in the webhooks app (messages queued before the move).
    "apps.webhooks.tasks.event_relay": {"queue": "deliveries"},
    "apps.webhooks.tasks.webhook_delivery_attempt": {"queue": "deliveries"},
    "apps.subscriptions.tasks.*": {"queue": "billing"},
}
# How often the audit chains' heads are signed (apps/audit/checkpoints.py); verify_audit_chain
# fails when events older than three times this are signed by no checkpoint.
AUDIT_CHECKPOINT_SECONDS = env.float("AUDIT_CHECKPOINT_SECONDS", default=300.0)
CELERY_BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    "worker-heartbeat": {
        "task": "apps.core.tasks.worker_heartbeat",
        "schedule": env.float("WORKER_HEARTBEAT_SECONDS", default=15.0),
    },
    "gateway-transactions-sweep": {
        "task": "apps.payments.tasks.gateway_transactions_sweep",
        "schedule": 60.0,
    },
    "payments-authentication-sweep": {
        "task": "apps.payments.tasks.payments_authentication_sweep",
        "schedule": 300.0,
    },
    "payments-review-expire": {
        "task": "apps.payments.tasks.payments_review_expire",
        "schedule": 600.0,
    },
    "idempotency-purge": {
        "task": "apps.api.tasks.idempotency_purge_expired",
        "schedule": 3600.0,
    },
    "incoming-webhooks-sweep": {
        "task": "apps.webhooks.tasks.incoming_webhooks_sweep",
        "schedule": 30.0,
    },
    "events-sweep": {
        "task": "apps.events.tasks.events_sweep",
        "schedule": 30.0,
    },
    "payment-methods-purge-sweep": {
        "task": "apps.customers.tasks.payment_methods_purge_sweep",
        "schedule": 300.0,
    },
    "checkout-reconcile": {
        "task": "apps.catalog.tasks.checkout_reconcile",
        "schedule": 60.0,
    },
    "subscriptions-billing": {
        "task": "apps.subscriptions.tasks.billing_run",
        "schedule": env.float("BILLING_RUN_SECONDS", default=60.0),
    },
    "subscriptions-recurring-start": {
        "task": "apps.subscriptions.tasks.recurring_subscriptions_start_sweep",
        "schedule": 300.0,
    },
    # Gateway schedules of paused subscriptions still owed a cancel (its task lost), queued again.
    "subscriptions-recurring-cancel": {
        "task": "apps.subscriptions.tasks.recurring_schedule_cancels_sweep",
        "schedule": 300.0,
    },
    # Card changes of gateway-run subscriptions whose answer was lost: the schedule's card recorded.
    "subscriptions-recurring-card-claims": {
        "task": "apps.subscriptions.tasks.recurring_card_claims_settle",
        "schedule": 300.0,
    },
    "subscriptions-stopped-attempts": {
        "task": "apps.subscriptions.tasks.stopped_attempts_settle",
        "schedule": 300.0,
    },
    "audit-checkpoint": {
        "task": "apps.audit.tasks.audit_checkpoint",
        "schedule": AUDIT_CHECKPOINT_SECONDS,
        # A run that waited longer than its interval is dropped: the next one signs the same.
        "options": {"expires": AUDIT_CHECKPOINT_SECONDS},
    },
    # The dashboard's daily totals of closed days (today is always read live).
    "reports-daily-totals": {
        "task": "apps.reports.tasks.daily_totals_refresh",
        "schedule": crontab(minute=5),
    },
    # Every gateway account's settlements of the previous day (UTC), imported and matched.
    "reconciliation-daily": {
        "task": "apps.reconciliation.tasks.reconcile_all",
        "schedule": crontab(hour=env.int("RECON_HOUR_UTC", default=6), minute=0),
    },
    # Reconciliation runs asked for in the admin whose task was lost, queued again.
    "reconciliation-runs-sweep": {
        "task": "apps.reconciliation.tasks.reconciliation_runs_sweep",
        "schedule": 120.0,
    },
}
# Tasks wait in the broker for at most this long (countdown); longer waits are kept in the
# database and queued by the sweepers, so no countdown outlives CELERY_VISIBILITY_TIMEOUT.
CELERY_MAX_COUNTDOWN_SECONDS = env.int("CELERY_MAX_COUNTDOWN_SECONDS", default=900)

# --- Subscriptions -----------------------------------------------------------------------

# Dunning: retry a failed renewal this many days after the first failure, then give up.
BILLING_RETRY_DAYS: list[int] = [int(day) for day in env.list("BILLING_RETRY_DAYS", default=["1", "3", "5"])]
# When every retry failed: "cancel" the subscription, or keep it open as "unpaid".
BILLING_FINAL_ACTION: str = env("BILLING_FINAL_ACTION", default="cancel")
# Subscriptions one billing task claims at a time (SELECT ... FOR UPDATE SKIP LOCKED), how many
# such tasks a run starts (one per worker process is right), and how long a claim holds (a dead
# worker's subscriptions are billed by the next run after this).
BILLING_BATCH_SIZE: int = env.int("BILLING_BATCH_SIZE", default=50)
BILLING_PARALLEL_TASKS: int = env.int("BILLING_PARALLEL_TASKS", default=2)
BILLING_CLAIM_SECONDS: int = env.int("BILLING_CLAIM_SECONDS", default=300)
# After a gateway error (nothing charged) or an unknown outcome, look again this much later.
BILLING_ERROR_RETRY_SECONDS: int = env.int("BILLING_ERROR_RETRY_SECONDS", default=300)

# --- Reconciliation --------------------------------------------------------------------

# A settlement line matches our movement by our reference and amount within this many days.
RECON_MATCH_WINDOW_DAYS: int = env.int("RECON_MATCH_WINDOW_DAYS", default=3)
# Our captures and refunds older than the newest transaction of the latest settlement minus this grace, and no
# older than the lookback, that no settlement carried are reported as missing at the gateway.
RECON_SETTLEMENT_GRACE_MINUTES: int = env.int("RECON_SETTLEMENT_GRACE_MINUTES", default=0)
RECON_LOOKBACK_DAYS: int = env.int("RECON_LOOKBACK_DAYS", default=7)

# Closed days whose dashboard totals are recomputed every hour (late captures and refunds).
REPORTS_REFRESH_DAYS: int = env.int("REPORTS_REFRESH_DAYS", default=3)

# --- API --------------------------------------------------------------------------------

REST_FRAMEWORK: dict[str, Any] = {
    # A customer session token (a JWT) first; everything else is an API key's to answer.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.sessions_api.authentication.CustomerSessionAuthentication",
        "apps.merchants.authentication.ApiKeyAuthentication",
    ],
    # Publishable keys reach only the views that allow them (checkout, catalogue).
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "apps.merchants.permissions.SecretKeyRequired",
    ],
    "DEFAULT_THROTTLE_CLASSES": [
        "apps.merchants.throttling.ApiKeyRateThrottle",
        "apps.sessions_api.throttling.CustomerSessionRateThrottle",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["apps.api.parsers.StrictJSONParser"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "apps.api.exceptions.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
}
# Requests per API key, "<n>/<s|m|h>". A fixed window counted in the cache (Redis in prod).
API_THROTTLE_RATE: str = env("API_THROTTLE_RATE", default="100/s")
# Each process takes a fiftieth of the limit at a time from Redis, at most this many requests
# (apps.merchants.throttling): 1 counts every request in Redis.
API_THROTTLE_LEASE_MAX = env.int("API_THROTTLE_LEASE_MAX", default=100)
# last_used_at is written at most once per this many seconds per key (not on every request).
API_KEY_LAST_USED_RESOLUTION_SECONDS = env.int("API_KEY_LAST_USED_RESOLUTION_SECONDS", default=60)
# A process keeps the API keys it saw under their stamp (apps.merchants.key_cache): a revoked key
# is refused at once; what a stamp cannot see (a bulk update) within this age.
API_KEY_CACHE_SECONDS = env.int("API_KEY_CACHE_SECONDS", default=60)
# Customer session tokens (apps/sessions_api): signed with HS256 (a per-merchant secret) or ES256
# (a per-merchant key pair whose public half GET /.well-known/jwks.json publishes); used for keys
# made from now on (`rotate_session_key` moves a merchant to it). Their `iss` claim: this, else
# PUBLIC_BASE_URL. Requests per customer, "<n>/<s|m|h>".
CUSTOMER_SESSION_ALGORITHM: str = env("CUSTOMER_SESSION_ALGORITHM", default="HS256")
CUSTOMER_SESSION_ISSUER: str = env("CUSTOMER_SESSION_ISSUER", default="")
CUSTOMER_SESSION_THROTTLE_RATE: str = env("CUSTOMER_SESSION_THROTTLE_RATE", default="20/s")
# Every customer token request of one merchant together: many customers at once (or one merchant's
# frontend in a loop) cannot take the whole API from the merchant's other traffic.
CUSTOMER_SESSION_MERCHANT_THROTTLE_RATE: str = env("CUSTOMER_SESSION_MERCHANT_THROTTLE_RATE", default="500/s")
# The hosted customer portal (/portal/): how long a link the merchant's backend minted may wait to be
# opened (once), and how long the browser session it opens lasts (a customer session: an hour at most).
PORTAL_LINK_SECONDS = env.int("PORTAL_LINK_SECONDS", default=300)
PORTAL_SESSION_SECONDS = env.int("PORTAL_SESSION_SECONDS", default=3600)
IDEMPOTENCY_KEY_TTL_HOURS = env.int("IDEMPOTENCY_KEY_TTL_HOURS", default=24)
# A request holds its Idempotency-Key this long; a retry after it (the first request's process
# died) takes the key over and answers with what the first request did. Longer than any request
# may run (gateway timeouts are 30 s).
IDEMPOTENCY_LEASE_SECONDS = env.int("IDEMPOTENCY_LEASE_SECONDS", default=90)
# Work that records a gateway call's result runs again on a fresh connection when the database
# connection was lost: attempts in all, and the first pause between them (doubling).
DB_RECONNECT_ATTEMPTS = env.int("DB_RECONNECT_ATTEMPTS", default=4)
DB_RECONNECT_BACKOFF_SECONDS = env.float("DB_RECONNECT_BACKOFF_SECONDS", default=0.25)

# /api/schema/ and /api/docs/: public, or (the default) only for signed-in staff.
API_DOCS_PUBLIC = env.bool("API_DOCS_PUBLIC", default=False)
SPECTACULAR_SETTINGS: dict[str, Any] = {
    "TITLE": "Clearhouse API",
    "DESCRIPTION": "Payments back office API. Authenticate with `Authorization: Bearer sk_test_…`.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # The error envelope for every error an operation can answer, list objects, CSV reports.
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "apps.api.schema.postprocess"],
    # Several serializers have a field named "type": each choice set gets its own component name.
    "ENUM_NAME_OVERRIDES": {
        "PaymentMethodInputTypeEnum": ["card", "opaque_data"],
        "NextActionTypeEnum": ["redirect_to_url"],
    },
}

# --- Gateways and payments -------------------------------------------------------------

# Test-mode Authorize.Net accounts talk to this endpoint: the real sandbox in production, our
# own wire-compatible sandbox (/sandbox/...) in dev and test.
AUTHORIZENET_TEST_ENDPOINT: str = env(
    "AUTHORIZENET_TEST_ENDPOINT", default="http://127.0.0.1:8000/sandbox/authorizenet/xml/v1/request.api"
)
AUTHORIZENET_LIVE_ENDPOINT: str = env(
    "AUTHORIZENET_LIVE_ENDPOINT", default="https://api.authorize.net/xml/v1/request.api"
)
# Read timeout of one gateway call; past it the outcome is unknown and is looked up later.
AUTHORIZENET_TIMEOUT_SECONDS = env.float("AUTHORIZENET_TIMEOUT_SECONDS", default=30.0)
# Razorpay: test-mode accounts talk to RAZORPAY_TEST_API_BASE (our sandbox in dev and test, the
# real API in production: Razorpay tells test from live by the key), live ones to the real API.
# Scheme and host only (plus our sandbox's path): the SDK appends /v1/...
RAZORPAY_TEST_API_BASE: str = env("RAZORPAY_TEST_API_BASE", default="http://127.0.0.1:8000/sandbox/razorpay")
RAZORPAY_LIVE_API_BASE: str = env("RAZORPAY_LIVE_API_BASE", default="https://api.razorpay.com")
RAZORPAY_TIMEOUT_SECONDS = env.float("RAZORPAY_TIMEOUT_SECONDS", default=30.0)
# Orders ask Razorpay to capture payments at once; off, verification captures them itself.
RAZORPAY_AUTO_CAPTURE = env.bool("RAZORPAY_AUTO_CAPTURE", default=True)
# The Checkout script the storefront loads: the sandbox's stand-in in dev and test.
RAZORPAY_CHECKOUT_JS_URL: str = env("RAZORPAY_CHECKOUT_JS_URL", default="/sandbox/razorpay/checkout.js")

# Our address as customers' browsers reach it (scheme and host), for pages gateways send them back
# to (3-D Secure). Blank: the address the API request came in on.
PUBLIC_BASE_URL: str = env("PUBLIC_BASE_URL", default="")
# Stripe: test-mode accounts talk to STRIPE_TEST_API_BASE (our sandbox in dev and test, the real API
# in production: Stripe tells test from live by the key), live ones to the real API. The SDK
# appends /v1/... to it.
STRIPE_TEST_API_BASE: str = env("STRIPE_TEST_API_BASE", default="http://127.0.0.1:8000/sandbox/stripe")
STRIPE_LIVE_API_BASE: str = env("STRIPE_LIVE_API_BASE", default="https://api.stripe.com")
STRIPE_TIMEOUT_SECONDS = env.float("STRIPE_TIMEOUT_SECONDS", default=30.0)
# Stripe.js, which the storefront and the customer portal (Stripe accounts) load: the sandbox's
# stand-in in dev and test.
STRIPE_JS_URL: str = env("STRIPE_JS_URL", default="/sandbox/stripe/js/v3/stripe.js")
# Accept.js (Authorize.Net's card tokenisation), which the customer portal loads to add a card: the
# sandbox's stand-in in dev and test.
ACCEPT_JS_URL: str = env("ACCEPT_JS_URL", default="/sandbox/authorizenet/accept.js")


def content_security_policy(checkout_js_url: str, stripe_js_url: str = "", accept_js_url: str = "") -> dict[str, Any]:
    """django-csp's policy: everything from our own origin, Razorpay Checkout, Stripe.js and Accept.js
    where they are served from elsewhere; no inline script anywhere (inline style attributes stay allowed)."""
    razorpay = ["https://*.razorpay.com"] if urlsplit(checkout_js_url).netloc else []
    # Accept.js posts the card to Authorize.Net's API (its test or production host).
    accept = [f"https://{urlsplit(accept_js_url).netloc}"] if urlsplit(accept_js_url).netloc else []
    accept_api = ["https://api2.authorize.net", "https://apitest.authorize.net"] if accept else []
    stripe = ["https://js.stripe.com"] if urlsplit(stripe_js_url).netloc else []
    stripe_frames = [*stripe, "https://hooks.stripe.com"] if stripe else []
    stripe_api = ["https://api.stripe.com"] if stripe else []
    # The portal answers a card's form with a redirect to Stripe's 3-D Secure page (form-action
    # covers a form's redirects too).
    stripe_redirects = ["https://hooks.stripe.com"] if stripe else []
    return {
        "DIRECTIVES": {
            "default-src": [SELF],
            "script-src": [SELF, *razorpay, *stripe, *accept],
            "style-src": [SELF, UNSAFE_INLINE],
            "img-src": [SELF, "data:", *razorpay],
            "connect-src": [SELF, *razorpay, *stripe_api, *accept_api],
            "frame-src": [SELF, *razorpay, *stripe_frames],
            "form-action": [SELF, *razorpay, *stripe_redirects],
            "frame-ancestors": [NONE],
            "base-uri": [SELF],
            "object-src": [NONE],
        }
    }


CONTENT_SECURITY_POLICY = content_security_policy(RAZORPAY_CHECKOUT_JS_URL, STRIPE_JS_URL, ACCEPT_JS_URL)
# A Razorpay order nobody paid is expired (and its pending payment with it) after this long.
RAZORPAY_ORDER_EXPIRY_SECONDS = env.int("RAZORPAY_ORDER_EXPIRY_SECONDS", default=1800)
# Pending checkout payments older than this are looked up at the gateway by the reconciler.
RAZORPAY_RECONCILE_AFTER_SECONDS = env.int("RAZORPAY_RECONCILE_AFTER_SECONDS", default=60)
# The demo storefront at /store/<merchant slug>/ (sells the catalogue through Razorpay Checkout).
STOREFRONT_ENABLED = env.bool("STOREFRONT_ENABLED", default=True)
# Whether the gateway sandboxes are installed (and served at /sandbox/): the dev-only settings say so.
SANDBOX_ENABLED = False
# Faults every sandbox request suffers, e.g. "latency=200" (see apps/sandbox/faults.py).
SANDBOX_FAULTS: str = env("SANDBOX_FAULTS", default="")
# The sandbox's own webhook deliveries: timeout, first retry delay (doubling), attempts.
SANDBOX_WEBHOOK_TIMEOUT_SECONDS = env.float("SANDBOX_WEBHOOK_TIMEOUT_SECONDS", default=5.0)
SANDBOX_WEBHOOK_RETRY_SECONDS = env.int("SANDBOX_WEBHOOK_RETRY_SECONDS", default=20)
SANDBOX_WEBHOOK_MAX_ATTEMPTS = env.int("SANDBOX_WEBHOOK_MAX_ATTEMPTS", default=10)
# Raw card numbers on the API: "always", "test_mode" (test-mode gateway accounts only) or "never".
PAYMENTS_RAW_CARD_DATA: str = env("PAYMENTS_RAW_CARD_DATA", default="test_mode")
# Refunds at or above these amounts (minor units, per currency) wait for an approver.
REFUND_APPROVAL_THRESHOLDS: dict[str, int] = {
    currency.upper(): int(amount)
    for currency, amount in (
        item.split(":")
        for item in env.list("REFUND_APPROVAL_THRESHOLDS", default=["USD:50000", "EUR:50000", "INR:5000000"])
    )
}
# How long a gateway call may stay unanswered before the sweeper treats its outcome as unknown.
# A payment waiting for its customer to authenticate (3-D Secure) is asked about after
# PAYMENT_AUTHENTICATION_CHECK_SECONDS (in case no webhook came) and given up after
# PAYMENT_AUTHENTICATION_TIMEOUT_SECONDS: the gateway's intent is cancelled and the payment fails.
PAYMENT_AUTHENTICATION_CHECK_SECONDS = env.int("PAYMENT_AUTHENTICATION_CHECK_SECONDS", default=600)
# A payment held for risk review is voided if nobody decides within this many hours (Stripe lets an
# authorisation lapse after 7 days, Authorize.Net after 30: keep it well inside the shortest).
RISK_REVIEW_VOID_AFTER_HOURS = env.int("RISK_REVIEW_VOID_AFTER_HOURS", default=72)
PAYMENT_AUTHENTICATION_TIMEOUT_SECONDS = env.int("PAYMENT_AUTHENTICATION_TIMEOUT_SECONDS", default=86_400)
GATEWAY_STALE_CALL_SECONDS = env.int("GATEWAY_STALE_CALL_SECONDS", default=300)
# After this long with no record at the gateway, a lost charge is taken as never made.
GATEWAY_NOT_FOUND_GRACE_SECONDS = env.int("GATEWAY_NOT_FOUND_GRACE_SECONDS", default=600)

# --- Risk: card fingerprints and velocity counters ----------------------------------------

# HMAC key of card fingerprints (apps/risk/fingerprint.py) and of the hashed values in velocity
# counter names. Changing it changes every fingerprint and starts every counter afresh.
# Dev/test fallback only; prod.py requires it.
RISK_FINGERPRINT_KEY: str = env("RISK_FINGERPRINT_KEY", default="dev-insecure-risk-Hq4vT9nB2xK7mW3cR8pL5sJ1")
# Reference rates for rules on `amount_usd` (US dollars per major unit; approximate, for risk
# thresholds only, never for money moved): CODE:RATE pairs. A currency without one has no amount_usd.
RISK_USD_RATES: dict[str, str] = dict(
    item.split(":") for item in env.list("RISK_USD_RATES", default=["EUR:1.08", "GBP:1.27", "INR:0.012", "JPY:0.0067"])
)
# Off: no payment is assessed, counted or throttled (an emergency switch; payments carry
# `risk.errors: ["risk_off"]`). Renewals follow RISK_RENEWALS only while it is on.
RISK_ENABLED: bool = env.bool("RISK_ENABLED", default=True)
# Each web process keeps the rules and lists under their stamps in Redis (apps.risk.stamps); it
# reads them again at least this often whatever the stamps say, and asks the database per
# payment when the lists hold more entries than the copy may.
RISK_CACHE_REFRESH_SECONDS: int = env.int("RISK_CACHE_REFRESH_SECONDS", default=30)
RISK_LIST_CACHE_MAX_ENTRIES: int = env.int("RISK_LIST_CACHE_MAX_ENTRIES", default=50_000)
# Country tables for rules on card_country and ip_country (apps/risk/geo.py): CSV files of
# `bin_prefix,country` and `network,country`. Unset: those countries are unknown.
RISK_BIN_COUNTRIES_FILE: str = env("RISK_BIN_COUNTRIES_FILE", default="")
RISK_IP_COUNTRIES_FILE: str = env("RISK_IP_COUNTRIES_FILE", default="")
# Renewals charged by billing runs: "lists" (only the allow/block lists decide) or "off".
RISK_RENEWALS = env("RISK_RENEWALS", default="lists")
# An API key serves all of a merchant's customers: its card-testing limits are this many times
# the limits of one IP address or card.
RISK_CARD_TESTING_KEY_FACTOR = env.int("RISK_CARD_TESTING_KEY_FACTOR", default=10)
# The longest window a velocity rule may ask about; older entries are dropped from Redis.
RISK_VELOCITY_MAX_WINDOW_SECONDS: int = env.int("RISK_VELOCITY_MAX_WINDOW_SECONDS", default=7 * 86400)
# Card testing (apps/risk/throttle.py): within the window, each IP address, API key and card may
# make this many small attempts (amount_usd at or below the small amount, US cents) and collect
# this many declines; beyond that its attempts answer 429 before the gateway. 0 turns a limit off.
RISK_CARD_TESTING_WINDOW_SECONDS: int = env.int("RISK_CARD_TESTING_WINDOW_SECONDS", default=60)
RISK_CARD_TESTING_SMALL_AMOUNT_USD: int = env.int("RISK_CARD_TESTING_SMALL_AMOUNT_USD", default=500)
RISK_CARD_TESTING_SMALL_ATTEMPTS: int = env.int("RISK_CARD_TESTING_SMALL_ATTEMPTS", default=10)
RISK_CARD_TESTING_DECLINES: int = env.int("RISK_CARD_TESTING_DECLINES", default=5)

# --- Webhooks ------------------------------------------------------------------------------

# Incoming gateway webhooks: attempts before a notification is dead, and the backoff between them
# (exponential from the base, capped, jittered).
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=8)
WEBHOOK_RETRY_BASE_SECONDS = env.float("WEBHOOK_RETRY_BASE_SECONDS", default=10.0)
WEBHOOK_RETRY_MAX_SECONDS = env.float("WEBHOOK_RETRY_MAX_SECONDS", default=3600.0)
# Sweepers re-queue work whose task was lost after this long.
WEBHOOK_REQUEUE_AFTER_SECONDS = env.int("WEBHOOK_REQUEUE_AFTER_SECONDS", default=120)
# Outgoing merchant webhooks: seconds to wait after each failed attempt (Standard Webhooks'
# example schedule, stretched to about three days), +-10% jitter; then the delivery fails.
WEBHOOK_DELIVERY_SCHEDULE_SECONDS: list[int] = [
    int(value)
    for value in env.list(
        "WEBHOOK_DELIVERY_SCHEDULE_SECONDS",
        default=["5", "300", "1800", "7200", "18000", "36000", "36000", "57600", "86400"],
    )
]
WEBHOOK_DELIVERY_TIMEOUT_SECONDS = env.float("WEBHOOK_DELIVERY_TIMEOUT_SECONDS", default=10.0)
# A Retry-After header is honoured up to this many seconds.
WEBHOOK_RETRY_AFTER_MAX_SECONDS = env.int("WEBHOOK_RETRY_AFTER_MAX_SECONDS", default=86400)
# An endpoint failing without a single success for this long is disabled.
WEBHOOK_ENDPOINT_DISABLE_AFTER_HOURS = env.int("WEBHOOK_ENDPOINT_DISABLE_AFTER_HOURS", default=72)
# After a secret rotation, deliveries are signed with the old secret too for this long.
WEBHOOK_SECRET_ROTATION_GRACE_HOURS = env.int("WEBHOOK_SECRET_ROTATION_GRACE_HOURS", default=24)
# Allow endpoints on loopback/private addresses and plain http (dev and test only).
WEBHOOK_ALLOW_PRIVATE_URLS = env.bool("WEBHOOK_ALLOW_PRIVATE_URLS", default=False)

# --- Security and staff -----------------------------------------------------------------

# Fernet keys, comma separated; the first encrypts, all decrypt (rotation). Dev/test fallback only.
FIELD_ENCRYPTION_KEYS: list[str] = env.list(
    "FIELD_ENCRYPTION_KEYS", default=["q8sO2n3dKQm6bZ0tGJ6qk9yT3yD2w1vV5xk3r7uE8aA="]
)
ADMIN_REQUIRE_OTP = env.bool("ADMIN_REQUIRE_OTP", default=False)
OTP_TOTP_ISSUER = env("OTP_TOTP_ISSUER", default="Clearhouse")
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=1.0)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Lockouts count per username and client address: the address read as everywhere else here
# (X-Forwarded-For trusted for NUM_PROXIES proxies). Without this axes reads REMOTE_ADDR (it
# would need django-ipware), which behind the proxy is the proxy's for every login.
AXES_CLIENT_IP_CALLABLE = "apps.core.net.client_ip"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 3600)
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# The audit trail's hash chains (apps/audit): appends to different chains never wait for each
# other; a merchant's events stay in one chain (merchant id modulo this). Can change at any time.
AUDIT_CHAINS = env.int("AUDIT_CHAINS", default=64)
if not 1 <= AUDIT_CHAINS <= 32767:
    raise ImproperlyConfigured("AUDIT_CHAINS must be between 1 and 32767")
# HMAC key of the audit checkpoints (signed heads of every chain). Keep it out of the database;
# empty: derived from SECRET_KEY (then rotating SECRET_KEY fails the older checkpoints' check).
AUDIT_CHECKPOINT_KEY: str = env("AUDIT_CHECKPOINT_KEY", default="")
# Earlier checkpoint keys, comma separated: they no longer sign but still verify (rotation).
AUDIT_CHECKPOINT_KEY_FALLBACKS: list[str] = env.list("AUDIT_CHECKPOINT_KEY_FALLBACKS", default=[])

# --- Operations -------------------------------------------------------------------------

# /metrics: a bearer token, or a client address in this list (CIDR allowed). Neither: 404.
METRICS_TOKEN: str = env("METRICS_TOKEN", default="")
METRICS_ALLOWED_IPS: list[str] = env.list("METRICS_ALLOWED_IPS", default=[])
# Celery worker (main process) and beat serve their host's metrics here too (apps.core.worker_metrics),
# under the same rule. Unset: off. A worker and a beat on one host need different ports.
WORKER_METRICS_PORT: int | None = env.int("WORKER_METRICS_PORT", default=None)
WORKER_METRICS_ADDRESS: str = env("WORKER_METRICS_ADDRESS", default="0.0.0.0")  # noqa: S104  # scraped by another host
HEALTH_WORKER_MAX_AGE_SECONDS = env.int("HEALTH_WORKER_MAX_AGE_SECONDS", default=120)

LOG_LEVEL: str = env("LOG_LEVEL", default="INFO")
LOG_FORMAT: str = env("LOG_FORMAT", default="json")
LOG_FILE: str = env("LOG_FILE", default="")
LOGGING = build_logging_config(level=LOG_LEVEL, fmt=LOG_FORMAT, log_file=LOG_FILE)

# Tracing (apps/core/tracing.py): OpenTelemetry spans exported over OTLP/HTTP to a collector (Jaeger,
# Grafana Tempo, the Datadog Agent ...). Off unless the collector's address is set or TRACING_ENABLED
# (which, with no address, exports to the OTLP default http://localhost:4318). The exporter itself
# reads OTEL_EXPORTER_OTLP_HEADERS (credentials), and the resource OTEL_RESOURCE_ATTRIBUTES.
OTEL_EXPORTER_OTLP_ENDPOINT: str = env("OTEL_EXPORTER_OTLP_ENDPOINT", default="")
TRACING_ENABLED: bool = env.bool("TRACING_ENABLED", default=False)
# Spans are reported as service "<name>-web", "<name>-worker" ...
TRACING_SERVICE_NAME: str = env("TRACING_SERVICE_NAME", default="clearhouse")
# Share of new traces kept (0.0 to 1.0); a trace started elsewhere follows its caller's choice.
TRACING_SAMPLE_RATIO: float = env.float("TRACING_SAMPLE_RATIO", default=1.0)
