"""Production. Refuses to start without its secrets: no defaults for anything sensitive."""

from django.core.exceptions import ImproperlyConfigured

from .base import *
from .base import (
    BASE_DIR,
    STORAGES,
    build_logging_config,
    cache_config,
    celery_beat_settings,
    celery_broker_settings,
    content_security_policy,
    database_config,
    env,
)
from .shipped import shipped_secrets

DEBUG = False
SECRET_KEY = env("SECRET_KEY")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured("Set the ALLOWED_HOSTS environment variable")
# psycopg's pool in each web process; DB_POOL=false where a process forks after connecting (the
# Celery worker and beat: see docker/compose.yml).
DATABASES = {"default": database_config(env("DATABASE_URL"), pool=env.bool("DB_POOL", default=True))}
REDIS_URL = env("REDIS_URL")
CACHES = cache_config(REDIS_URL)
CELERY_BROKER_URL, CELERY_BROKER_TRANSPORT_OPTIONS = celery_broker_settings(REDIS_URL)
CELERY_BEAT_SCHEDULER, REDBEAT_REDIS_URL = celery_beat_settings(REDIS_URL)
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS")
if not FIELD_ENCRYPTION_KEYS:
    raise ImproperlyConfigured("Set the FIELD_ENCRYPTION_KEYS environment variable")
RISK_FINGERPRINT_KEY = env("RISK_FINGERPRINT_KEY")
METRICS_TOKEN = env("METRICS_TOKEN", default="")
_public = shipped_secrets(
    BASE_DIR,
    {
        "SECRET_KEY": [SECRET_KEY],
        "FIELD_ENCRYPTION_KEYS": FIELD_ENCRYPTION_KEYS,
        "METRICS_TOKEN": [METRICS_TOKEN],
        "RISK_FINGERPRINT_KEY": [RISK_FINGERPRINT_KEY],
    },
)
if _public:
    raise ImproperlyConfigured(
        f"{', '.join(_public)}: a value that ships in the repository (or is too short) is public; generate a new one"
    )

ADMIN_REQUIRE_OTP = env.bool("ADMIN_REQUIRE_OTP", default=True)
STOREFRONT_ENABLED = env.bool("STOREFRONT_ENABLED", default=False)
RAZORPAY_TEST_API_BASE = env("RAZORPAY_TEST_API_BASE", default="https://api.razorpay.com")
RAZORPAY_CHECKOUT_JS_URL = env("RAZORPAY_CHECKOUT_JS_URL", default="https://checkout.razorpay.com/v1/checkout.js")
STRIPE_TEST_API_BASE = env("STRIPE_TEST_API_BASE", default="https://api.stripe.com")
STRIPE_JS_URL = env("STRIPE_JS_URL", default="https://js.stripe.com/v3/")
ACCEPT_JS_URL = env("ACCEPT_JS_URL", default="https://js.authorize.net/v1/Accept.js")
CONTENT_SECURITY_POLICY = content_security_policy(RAZORPAY_CHECKOUT_JS_URL, STRIPE_JS_URL, ACCEPT_JS_URL)
PAYMENTS_RAW_CARD_DATA = env("PAYMENTS_RAW_CARD_DATA", default="never")
AUTHORIZENET_TEST_ENDPOINT = env(
    "AUTHORIZENET_TEST_ENDPOINT", default="https://apitest.authorize.net/xml/v1/request.api"
)

STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}}

SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_REDIRECT_EXEMPT = [r"^health/", r"^metrics$"]
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
CSRF_COOKIE_HTTPONLY = True

LOGGING = build_logging_config(
    level=env("LOG_LEVEL", default="INFO"), fmt=env("LOG_FORMAT", default="json"), log_file=env("LOG_FILE", default="")
)
