from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker
from django.core.cache import cache
from rest_framework.test import APIClient

from apps.audit.actors import Actor
from apps.ledger.services import forget_known_accounts
from apps.merchants import key_cache
from apps.merchants.models import Merchant
from apps.merchants.services import IssuedApiKey, api_key_create
from apps.merchants.throttling import forget_leases
from config.celery import app as celery_app
from tests.brokers import broker_purge, embedded_worker_class, embedded_worker_stop
from tests.merchants.factories import MerchantFactory


def pytest_collection_modifyitems(items: list[Any]) -> None:
    """Tests marked `last` run after everything else (they inspect what the suite left behind).
    Tests with a real worker (`celery_worker`) are marked `celery`: `make test` runs them on RabbitMQ too."""
    items.sort(key=lambda item: item.get_closest_marker("last") is not None)
    for item in items:
        if "celery_worker" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.celery)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: Any) -> Iterator[None]:
    """After every test that touched the database, while its data is still there: the ledger
    must be sound (every entry balanced, every payment agreeing with its entries)."""
    result = yield
    uses_db = item.get_closest_marker("django_db") is not None or {"db", "transactional_db"} & set(item.fixturenames)
    if uses_db and item.get_closest_marker("ledger_unchecked") is None:
        from apps.ledger.selectors import ledger_problems

        problems = ledger_problems()
        assert not problems, "the ledger is not sound after this test:\n" + "\n".join(problems)
    return result


def pytest_configure(config: Any) -> None:
    """In the run's main process (not an xdist worker): remove the log files of an earlier run's
    workers, so the checks that read every worker's log (suite_logs) read this run's lines only."""
    if not hasattr(config, "workerinput"):
        from django.conf import settings

        for stale in Path(settings.VAR_DIR).glob("test-logs-gw*.jsonl"):
            stale.unlink(missing_ok=True)


@pytest.fixture(scope="session", autouse=True)
def _fresh_log_file() -> None:
    from django.conf import settings

    if settings.LOG_FILE:
        open(settings.LOG_FILE, "w").close()  # truncate: this run's lines only


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    cache.clear()
    # What processes keep beside the cache: the database is rolled back under them with no
    # stamp moving (as a change no stamp saw), so nothing kept is carried into the next test.
    key_cache.forget_keys()
    forget_leases()
    forget_known_accounts()
    return


@pytest.fixture
def merchant(db: Any) -> Merchant:
    return MerchantFactory()


@pytest.fixture
def other_merchant(db: Any) -> Merchant:
    return MerchantFactory()


@pytest.fixture
def issue_key(db: Any) -> Callable[..., IssuedApiKey]:
    def issue(merchant: Merchant, mode: str = "test", name: str = "") -> IssuedApiKey:
        return api_key_create(merchant=merchant, mode=mode, name=name, actor=Actor.system("tests"))

    return issue


@pytest.fixture
def api_key(merchant: Merchant, issue_key: Callable[..., IssuedApiKey]) -> IssuedApiKey:
    return issue_key(merchant)


@pytest.fixture
def client_for() -> Callable[[str], APIClient]:
    def make(secret: str) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
        return client

    return make


@pytest.fixture
def api(api_key: IssuedApiKey, client_for: Callable[[str], APIClient]) -> APIClient:
    """An API client authenticated as `merchant`."""
    return client_for(api_key.secret)


@pytest.fixture
def celery_worker(transactional_db: Any) -> Iterator[Any]:
    """A real Celery worker (in a thread of this process) consuming the test broker (Redis, or
    RabbitMQ under `make test-rabbitmq`).

    Tests using it need committed data (transactional_db): the worker has its own connection.
    """
    broker_purge()
    with start_worker(
        celery_app,
        pool="solo",
        perform_ping_check=False,
        shutdown_timeout=10,
        queues=["default", "webhooks", "deliveries", "billing"],
        WorkController=embedded_worker_class(),
    ) as worker:
        yield worker
        embedded_worker_stop()


@dataclass
class SentTask:
    name: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    countdown: float | None


@pytest.fixture
def sent_tasks(monkeypatch: pytest.MonkeyPatch) -> list[SentTask]:
    """Tasks queued by name (apps.core.queueing) are recorded here instead of reaching the broker."""
    sent: list[SentTask] = []

    def send_task(name: str, args: Any = (), kwargs: Any = None, countdown: float | None = None, **_: Any) -> None:
        sent.append(SentTask(name, tuple(args or ()), dict(kwargs or {}), countdown))

    monkeypatch.setattr(celery_app, "send_task", send_task)
    return sent


@pytest.fixture
def staff_client(client: Any) -> Callable[..., Any]:
    """The Django test client, signed in as a new staff user holding the given roles."""
    from tests.accounts.factories import StaffUserFactory

    def login(*role_names: str) -> Any:
        user = StaffUserFactory(roles=list(role_names))
        client.force_login(user)
        client.user = user
        return client

    return login


# --- gateways ---------------------------------------------------------------------------------

ANET_PATH = "/sandbox/authorizenet/xml/v1/request.api"


@pytest.fixture
def anet_sandbox(live_server: Any, settings: Any) -> Any:
    """A merchant account at our Authorize.Net sandbox, served over real HTTP by the live server."""
    from apps.sandbox.services import anet_account_create

    settings.AUTHORIZENET_TEST_ENDPOINT = f"{live_server.url}{ANET_PATH}"
    settings.AUTHORIZENET_TIMEOUT_SECONDS = 2.0
    settings.GATEWAY_NOT_FOUND_GRACE_SECONDS = 0
    return anet_account_create(api_login_id=f"sb{uuid.uuid4().hex[:10]}")


@pytest.fixture
def anet_account(merchant: Merchant, anet_sandbox: Any) -> Any:
    """The merchant's test-mode Authorize.Net gateway account, pointing at the sandbox."""
    from apps.gateways.services import gateway_account_create

    return gateway_account_create(
        merchant=merchant,
        gateway="authorizenet",
        mode="test",
        credentials={
            "api_login_id": anet_sandbox.api_login_id,
            "transaction_key": anet_sandbox.transaction_key,
            "signature_key": anet_sandbox.signature_key,
        },
        actor=Actor.system("tests"),
    )


@pytest.fixture
def anet_gateway(anet_account: Any) -> Any:
    from apps.gateways.registry import gateway_for

    return gateway_for(anet_account)


@pytest.fixture
def sandbox_fault() -> Callable[..., Any]:
    """Queue a fault for the next matching sandbox request(s)."""
    from apps.sandbox.models import SandboxFault

    def queue(kind: str, value: int = 0, match: str = "", remaining: int = 1, gateway: str = "authorizenet") -> Any:
        return SandboxFault.objects.create(gateway=gateway, kind=kind, value=value, match=match, remaining=remaining)

    return queue


# --- razorpay sandbox ---------------------------------------------------------------------------

RZP_PATH = "/sandbox/razorpay"


@pytest.fixture
def rzp_sandbox(live_server: Any, settings: Any) -> Any:
    """An account at our Razorpay sandbox, served over real HTTP by the live server."""
    from apps.sandbox.services import rzp_account_create

    settings.RAZORPAY_TEST_API_BASE = f"{live_server.url}{RZP_PATH}"
    return rzp_account_create()


# --- stripe sandbox -------------------------------------------------------------------------------

STRIPE_PATH = "/sandbox/stripe"


@pytest.fixture
def stripe_sandbox(live_server: Any, settings: Any) -> Any:
    """An account at our Stripe sandbox (test key pair), served over real HTTP by the live server."""
    from apps.sandbox.stripe.services import stripe_account_create

    settings.STRIPE_TEST_API_BASE = f"{live_server.url}{STRIPE_PATH}"
    return stripe_account_create()


# --- razorpay checkout (catalogue) ----------------------------------------------------------------

CATALOG_ACTOR = Actor.system("tests")


@pytest.fixture
def rzp_account(merchant: Merchant, rzp_sandbox: Any) -> Any:
    """The merchant's test-mode Razorpay account at the sandbox, settling INR."""
    from apps.gateways.services import gateway_account_create

    return gateway_account_create(
        merchant=merchant,
        gateway="razorpay",
        mode="test",
        currency="INR",
        credentials={
            "key_id": rzp_sandbox.key_id,
            "key_secret": rzp_sandbox.key_secret,
            "webhook_secret": f"whsec-{uuid.uuid4().hex}",
        },
        actor=CATALOG_ACTOR,
    )


@pytest.fixture
def price(merchant: Merchant) -> Any:
    from apps.catalog.services import price_create, product_create

    product = product_create(
        merchant=merchant, name="Annual pass", description="A year of everything", actor=CATALOG_ACTOR
    )
    return price_create(product=product, amount=49_900, currency="INR", nickname="yearly", actor=CATALOG_ACTOR)


@pytest.fixture
def publishable(merchant: Merchant) -> APIClient:
    issued = api_key_create(merchant=merchant, mode="test", kind="publishable", actor=CATALOG_ACTOR)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
    return client


# --- browser ---

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Playwright driving Debian's Chromium (`.ci/run` installs it when missing), for one module.

    Playwright's sync API keeps an event loop running in this thread while it is open, so
    Django's async-safety check would refuse the tests' own (synchronous) ORM calls: it is lifted
    for the browser modules only, and restored, with the loop closed, when the module ends.
    """
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail(f"Chromium not found at {CHROMIUM}: install Debian's chromium package (.ci/run does)")
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous
