#!/usr/bin/env python
"""`make bench`: start the app under gunicorn on a throwaway PostgreSQL database, drive HTTP load
with wrk, and print each scenario's throughput and latency with its ratio to a baseline that is
measured in the same run (so the ratios hold on any machine), and with its ratio to the bare floor:
a minimal Django + DRF app (tests/bench/bare/) on the same gunicorn command line and PostgreSQL
server, measured first.

A benchmark, not a test: it prints figures and fails only when the system cannot be started, a
step fails or a scenario answers with errors. What was measured is written to var/bench/last.json
(and a copy named after the run's start) after every step, so a failing step loses nothing: it is
logged, the other steps carry on, and the run exits non-zero at the end.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import time
import traceback
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import cpu  # tests/bench/, the script's own directory
from collector import Collector

ROOT = Path(__file__).resolve().parents[2]
LUA_DIR = Path(__file__).resolve().parent / "wrk"
BIN = Path(sys.executable).parent
BENCH_DB = "clearhouse_bench"
# The bare floor: its own database on the same server, its own settings, its own gunicorn config
# (the project's gunicorn.conf.py loads Clearhouse's logger and tracing hook).
BARE_DB = "clearhouse_bench_bare"
BARE_SETTINGS = "tests.bench.bare.settings"
BARE_APP = "tests.bench.bare.wsgi:application"
BARE_GUNICORN_CONFIG = Path(__file__).resolve().parent / "bare" / "gunicorn_conf.py"

T = TypeVar("T")


class StepFailed(Exception):
    """A step of the run could not be carried out (a command failed, a server did not come up)."""


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    script: str
    path: str
    baseline: str | None = None  # key of the scenario this one is compared with; None: a baseline
    floor: str | None = None  # key of the bare floor scenario this one is also compared with
    target: float | None = None  # the target for the ratio to the bare floor


@dataclass
class Result:
    key: str
    title: str
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    non_2xx: int
    socket_errors: int
    baseline: str | None = None
    ratio: float | None = None
    floor: str | None = None
    floor_ratio: float | None = None
    target: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


SCENARIOS = [
    # First: the bare floor (a minimal Django + DRF app, tests/bench/bare/, on its own server).
    Scenario("bare_insert", "bare floor: minimal Django + DRF app inserting one row, no auth", "bare_insert.lua", "/rows"),
    Scenario("bare_read", "bare floor: minimal Django + DRF app reading one row, no auth", "bare_read.lua", "/rows/{row}"),
    Scenario("insert", "baseline: authenticated DRF endpoint inserting one row", "insert_row.lua", "/api/v1/bench/rows", None, "bare_insert", 0.80),
    Scenario("read", "authenticated read (GET /api/v1/merchant)", "get_merchant.lua", "/api/v1/merchant", "insert", "bare_read", 0.85),
    Scenario("replay", "idempotent replay (same Idempotency-Key)", "idempotent_replay.lua", "/api/v1/bench/rows", "insert", "bare_insert"),
    Scenario("sdk", "baseline: Authorize.Net SDK sale to the sandbox, nothing stored", "sdk_sale.lua", "/api/v1/bench/sdk-sale"),
    Scenario("purchase", "purchase: POST /api/v1/payments to the sandbox", "purchase.lua", "/api/v1/payments", "sdk"),
    Scenario("insert_traced", "insert with tracing on, exported to an OTLP collector stand-in", "insert_row.lua", "/api/v1/bench/rows", "insert"),
    Scenario("insert_no_pool", "insert without psycopg's pool (DB_POOL=false: a connection per request)", "insert_row.lua", "/api/v1/bench/rows", "insert"),
    Scenario("purchase_traced", "purchase with tracing on, exported to an OTLP collector stand-in", "purchase.lua", "/api/v1/payments", "purchase"),
    Scenario("purchase_replay", "purchase replay (same Idempotency-Key)", "purchase_replay.lua", "/api/v1/payments", "insert", "bare_insert"),
    Scenario("webhook", "signed Authorize.Net notifications, 10% duplicates", "anet_webhook.lua", "/webhooks/authorizenet/{account}", "insert", "bare_insert"),
    Scenario("stripe_sdk", "baseline: Stripe SDK PaymentIntent create+confirm to the sandbox, nothing stored", "stripe_sale.lua", "/api/v1/bench/stripe-sale"),
    Scenario("stripe_purchase", "Stripe purchase: POST /api/v1/payments on a Stripe account", "stripe_purchase.lua", "/api/v1/payments", "stripe_sdk"),
    Scenario("checkout_floor", "baseline: Razorpay SDK order, Checkout pay, SDK fetch (checkouts/s)", "checkout.lua", "/"),
    Scenario("checkout", "Razorpay checkout: API order + Checkout pay + API verify (checkouts/s)", "checkout.lua", "/", "checkout_floor"),
    Scenario("customer_payments_key", "baseline: a customer's payments read with the secret key (GET /api/v1/payments)", "customer_payments.lua", "/api/v1/payments"),
    Scenario("customer_payments", "the same read with a customer session token (JWT)", "customer_payments.lua", "/api/v1/payments", "customer_payments_key"),
    # Last: 200 rules stay installed from here on.
    Scenario("purchase_risk_off", "baseline: purchase with an IP and email, risk off (RISK_ENABLED=false)", "purchase_risk.lua", "/api/v1/payments"),
    Scenario("purchase_rules", "purchase with an IP and email, 200 active rules + velocity counters", "purchase_risk.lua", "/api/v1/payments", "purchase_risk_off"),
]  # fmt: skip
# Served by the bare app (tests/bench/bare/), on a server of its own.
BARE_SCENARIOS = {"bare_insert", "bare_read"}
# Served by a second app server started with RISK_ENABLED=false.
RISK_OFF_SCENARIOS = {"purchase_risk_off"}
# Served by an app server with tracing on, exporting every span to a collector stand-in
# (tests/bench/collector.py); the target: at least 0.9 of the same scenario untraced.
TRACED_SCENARIOS = {"insert_traced", "purchase_traced"}
TRACED_TARGET = 0.9
# Served by an app server without psycopg's connection pool: what the pool saves.
NO_POOL_SCENARIOS = {"insert_no_pool"}
# Stripe scenarios run as a merchant of their own, whose only card gateway is Stripe.
STRIPE_SCENARIOS = {"stripe_sdk", "stripe_purchase"}
# customer_payments(_key) read as a merchant of their own whose one customer owns all its payments:
# the secret key and the customer's token read the same page. The target: the token at
# least 0.9 of the key.
CUSTOMER_SESSION_TARGET = 0.9
# Checkout scenarios chain three requests per cycle on one connection per wrk thread.
CHECKOUT_SCENARIOS = {"checkout", "checkout_floor"}
# Scenarios measured again at half of their peak rate, with their baseline at the same rate:
# the latency they add under moderate load, not under saturation.
HALF_PEAK = {"purchase": "sdk", "purchase_rules": "purchase_risk_off"}


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        log("installing wrk (Debian package)")
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True, stdout=subprocess.DEVNULL)
        found = shutil.which("wrk")
    if not found:
        sys.exit("wrk is needed: apt-get install wrk")
    return found


def base_env(database_url: str, redis_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.bench",
        DJANGO_READ_DOT_ENV_FILE="false",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        PYTHONUNBUFFERED="1",
    )
    return env


def recreate_database(admin_url: str, name: str = BENCH_DB) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {name}")


def analyse(database_url: str) -> None:
    """Statistics for every table, as autovacuum keeps them on a production server. This machine's
    PostgreSQL runs with autovacuum off (CI's conf.d), so a database the bench fills is never
    analysed: its prepared statements keep generic plans made on empty tables, which pick a
    foreign key's index over a unique one and read every row of a merchant or account per lookup,
    more as the run goes on. ANALYZE invalidates those plans; the next execution plans afresh."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("ANALYZE")


def bare_env(database_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": BARE_SETTINGS,
        "DATABASE_URL": database_url,
        "PYTHONUNBUFFERED": "1",
    }


def bare_setup(admin_url: str, database_url: str) -> str:
    """The bare app's database: created, migrated with its own settings, and the row that
    bare_read reads. Returns that row's id."""
    import psycopg

    recreate_database(admin_url, BARE_DB)
    command = [str(BIN / "python"), "-m", "django", "migrate", "--noinput", "-v0"]
    result = subprocess.run(command, cwd=ROOT, env=bare_env(database_url), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise StepFailed(f"bare app: migrate failed:\n{result.stdout}\n{result.stderr}")
    with psycopg.connect(database_url, autocommit=True) as connection:
        row = connection.execute(
            "INSERT INTO bare_row (note, created_at) VALUES ('read by bare_read', now()) RETURNING id"
        ).fetchone()
    assert row is not None
    return str(row[0])


SETUP_SNIPPET = """
from apps.audit.actors import Actor
from apps.gateways.services import gateway_account_create
from apps.merchants.services import api_key_create, merchant_create
from apps.sandbox.services import anet_account_create
actor = Actor.system("bench")
merchant = merchant_create(slug="bench", name="Benchmark merchant", actor=actor)
sandbox = anet_account_create(api_login_id="bench-anet")
sandbox.duplicate_window_seconds = 0
sandbox.save()
account = gateway_account_create(merchant=merchant, gateway="authorizenet", mode="test", actor=actor, credentials={
    "api_login_id": sandbox.api_login_id, "transaction_key": sandbox.transaction_key,
    "signature_key": sandbox.signature_key})
print("BENCH_KEY=" + api_key_create(merchant=merchant, actor=actor).secret)
print("BENCH_GATEWAY_ACCOUNT=" + account.public_id)
print("BENCH_SIGNATURE_KEY=" + sandbox.signature_key)
from apps.catalog.services import price_create, product_create
from apps.sandbox.services import rzp_account_create
rzp = rzp_account_create()
gateway_account_create(merchant=merchant, gateway="razorpay", mode="test", currency="INR", actor=actor, credentials={
    "key_id": rzp.key_id, "key_secret": rzp.key_secret, "webhook_secret": "bench-webhook-secret"})
product = product_create(merchant=merchant, name="Bench pass", actor=actor)
print("BENCH_PRICE=" + price_create(product=product, amount=49_900, currency="INR", actor=actor).public_id)
from apps.sandbox.stripe.services import stripe_account_create
stripe_merchant = merchant_create(slug="bench-stripe", name="Benchmark merchant on Stripe", actor=actor)
stripe_sandbox = stripe_account_create()
gateway_account_create(merchant=stripe_merchant, gateway="stripe", mode="test", actor=actor, credentials={
    "secret_key": stripe_sandbox.secret_key, "publishable_key": stripe_sandbox.publishable_key})
print("BENCH_STRIPE_KEY=" + api_key_create(merchant=stripe_merchant, actor=actor).secret)
from tests.factories import CustomerFactory, PaymentFactory
sessions_merchant = merchant_create(slug="bench-sessions", name="Benchmark merchant, customer sessions", actor=actor)
sessions_customer = CustomerFactory(merchant=sessions_merchant)
for _ in range(40):
    PaymentFactory(merchant=sessions_merchant, customer=sessions_customer)
print("BENCH_SESSIONS_KEY=" + api_key_create(merchant=sessions_merchant, actor=actor).secret)
print("BENCH_SESSIONS_CUSTOMER=" + sessions_customer.public_id)
"""

# A customer session token for the bench customer, minted right before its scenario: a token lives
# an hour at most, shorter than a whole run.
MINT_SNIPPET = """
from apps.audit.actors import Actor
from apps.customers.models import Customer
from apps.sessions_api.services import customer_session_create
customer = Customer.objects.get(public_id=%r)
minted = customer_session_create(customer=customer, abilities=["payments.read"], expires_in=3600,
                                 actor=Actor.system("bench"))
print("BENCH_CUSTOMER_TOKEN=" + minted.token)
"""

# Payments we hold as authorized whose transactions the sandbox reports captured, and one signed
# priorAuthCapture notification for each: processing one means a getTransactionDetails call to
# the sandbox and a capture written with its audit row and outbox event, as in production. The bench
# merchant has several gateway accounts: the Authorize.Net one is named by the public id SETUP printed.
LAG_SETUP_SNIPPET = """
import os
from django.utils import timezone
from apps.gateways.authorizenet import webhook_signature
from apps.gateways.models import GatewayAccount
from apps.payments.models import Payment
from apps.sandbox.models import AnetAccount, AnetTransaction
from tests.webhooks.helpers import anet_body
count, path = %d, %r
account = GatewayAccount.objects.get(public_id=os.environ["BENCH_GATEWAY_ACCOUNT"], gateway="authorizenet")
sandbox = AnetAccount.objects.get(api_login_id="bench-anet")
now = timezone.now()
charges = AnetTransaction.objects.bulk_create(AnetTransaction(
    account=sandbox, transaction_type="authOnlyTransaction", status="capturedPendingSettlement", response_code="1",
    reason_code="1", reason_text="This transaction has been approved.", auth_amount=1050, settle_amount=1050,
    currency="USD", card_type="Visa", card_last4="1111", submitted_at=now) for _ in range(count))
Payment.objects.bulk_create(Payment(
    merchant_id=account.merchant_id, gateway_account=account, status="authorized", currency="USD", amount=1050,
    amount_authorized=1050, capture=False, gateway_transaction_id=c.trans_id) for c in charges)
key = sandbox.signature_key
with open(path, "wb") as out:
    for charge in charges:
        body = anet_body(charge.trans_id, "net.authorize.payment.priorAuthCapture.created")
        out.write(webhook_signature(body, key).encode() + b"\\t" + body + b"\\n")
"""


# 196 rules beside the 4 built-in ones: the attributes and operators merchants' rules use
# (amounts, emails, BINs, countries, metadata, velocity figures), a tenth of them log-only. None
# matches the benchmark's purchases, so every one is evaluated and the payment goes through.
RULES_SNIPPET = """
from apps.audit.actors import Actor
from apps.risk.models import Rule
from apps.risk.services import rule_create
shapes = [
    "(amount_usd ?? 0) > {n}00000 and currency == 'USD'",
    "email_domain != null and email_domain == 'spam{n}.example'",
    "(attempts_ip_1h ?? 0) > {n}000 and (declines_ip_10m ?? 0) > 2",
    "'campaign' in metadata and metadata['campaign'] == 'promo{n}'",
    "card_bin != null and card_bin == '5{n:05d}'",
    "(amount_card_24h ?? 0) > {n}00000000",
    "billing_country != null and ip_country != null and billing_country != ip_country and amount > {n}0000",
    "(customer_age_days ?? 1000) < 1 and (customers_per_card_24h ?? 0) > {n}",
]
actor = Actor.system("bench")
for i in range(200 - Rule.objects.filter(enabled=True).count()):
    rule_create(name=f"bench rule {i:03d}", expression=shapes[i % len(shapes)].format(n=i + 1),
                outcome=["block", "review", "request_3ds"][i % 3], mode="log_only" if i % 10 == 0 else "live",
                actor=actor)
print("RULES=" + str(Rule.objects.filter(enabled=True).count()))
"""


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [str(BIN / "python"), "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        # A snippet is named by its first line, not printed whole.
        label = " ".join(f"<{arg.strip().splitlines()[0]} ...>" if "\n" in arg.strip() else arg for arg in args)
        raise StepFailed(f"manage.py {label} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def wait_for(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise StepFailed(f"{url} did not come up within {timeout:.0f}s")


def start_gunicorn(
    env: dict[str, str],
    port: int,
    workers: int,
    name: str = "app",
    *,
    app: str = "config.wsgi:application",
    config: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Every server on the same command line; `config` replaces the project's gunicorn.conf.py."""
    command = [
        str(BIN / "gunicorn"),
        app,
        *(["--config", str(config)] if config else []),
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        "sync",
        "--backlog",
        "2048",
        "--log-level",
        "warning",
        "--name",
        f"clearhouse-bench-{name}",
    ]
    process = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    try:
        wait_for(f"http://127.0.0.1:{port}/health/live")
    except BaseException:
        stop(process)
        raise
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def run_wrk(
    wrk: str,
    scenario: Scenario,
    *,
    port: int,
    seconds: int,
    connections: int,
    threads: int,
    env: dict[str, str],
    delay_ms: float = 0.0,
    phase: str = "",
) -> dict[str, Any]:
    command = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA_DIR / scenario.script),
        f"http://127.0.0.1:{port}{scenario.path.format(account=env.get('BENCH_GATEWAY_ACCOUNT', ''), row=env.get('BENCH_BARE_ROW', ''))}",
    ]
    wrk_env = {
        **env,
        "BENCH_LUA_PATH": str(LUA_DIR),
        "BENCH_CONNECTIONS": str(connections),
        "BENCH_DELAY_MS": str(int(delay_ms)),
        "BENCH_PHASE": phase or uuid.uuid4().hex[:6],
        "BENCH_THREADS": str(threads),
        "BENCH_WEBHOOK_OFFSET": str(WEBHOOK_LINES_USED.get(env.get("BENCH_WEBHOOK_FILE", ""), 0)),
    }
    finished = subprocess.run(command, env=wrk_env, capture_output=True, text=True, check=False)
    output = finished.stdout
    line = next((row for row in output.splitlines() if row.startswith("BENCH_JSON ")), None)
    if finished.returncode != 0 or line is None:
        raise StepFailed(
            f"wrk (exit {finished.returncode}) printed no summary for {scenario.key}:\n{output}\n{finished.stderr}"
        )
    summary: dict[str, Any] = json.loads(line.removeprefix("BENCH_JSON "))
    if "BENCH_WEBHOOK_FILE" in env:  # the next run starts after the notifications this one used
        file = env["BENCH_WEBHOOK_FILE"]
        WEBHOOK_LINES_USED[file] = WEBHOOK_LINES_USED.get(file, 0) + summary["requests"] + 64
    return summary


WEBHOOK_LINES_USED: dict[str, int] = {}


def write_notifications(path: Path, signature_key: str, count: int) -> None:
    """Signed notifications about transactions we do not hold (acceptance only: no worker runs)."""
    import hashlib
    import hmac

    with path.open("wb") as out:
        for index in range(count):
            body = json.dumps({
                "notificationId": str(uuid.uuid4()), "eventType": "net.authorize.payment.authcapture.created",
                "eventDate": "2026-11-22T10:00:00.1234567Z", "webhookId": "0b7c5d2e-57a6-4a7e-a7a2-bench",
                "payload": {"responseCode": 1, "authCode": "BENCH1", "avsResponse": "Y", "authAmount": 10.5,
                            "entityName": "transaction", "id": str(90_000_000_000 + index)},
            }).encode()  # fmt: skip
            signature = hmac.new(signature_key.encode(), body, hashlib.sha512).hexdigest().upper()
            out.write(b"sha512=" + signature.encode() + b"\t" + body + b"\n")


WORKER_CONCURRENCY = (os.cpu_count() or 2) * 2


def start_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [str(BIN / "celery"), "-A", "config", "worker", "--loglevel", "WARNING", "--concurrency", str(WORKER_CONCURRENCY),
               "--queues", "default,webhooks,deliveries", "--without-mingle", "--without-gossip"]  # fmt: skip
    # Prefork children must not share a pool made before the fork (as in docker/compose.yml).
    return subprocess.Popen(command, cwd=ROOT, env={**env, "DB_POOL": "false"}, start_new_session=True)


def clear_webhook_backlog(database_url: str, redis_url: str) -> None:
    """The acceptance runs queue thousands of notifications with no worker running: drop them, so
    the lag run measures its own notifications only."""
    import psycopg
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("UPDATE webhooks_incomingwebhook SET status = 'ignored' WHERE status = 'received'")


def processing_lag(database_url: str, since: float, timeout: float = 600.0) -> dict[str, Any]:
    """Wait until every notification received since `since` is processed; lag percentiles."""
    import psycopg

    query_open = (
        "SELECT count(*) FROM webhooks_incomingwebhook WHERE received_at >= to_timestamp(%s) "
        "AND status IN ('received', 'failed')"
    )
    deadline = time.monotonic() + timeout
    with psycopg.connect(database_url, autocommit=True) as connection:
        while (row := connection.execute(query_open, (since,)).fetchone()) and row[0] and time.monotonic() < deadline:
            time.sleep(1)
        stats = connection.execute(
            "SELECT count(*), "
            "percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM processed_at - received_at)), "
            "percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM processed_at - received_at)), "
            "max(extract(epoch FROM processed_at - received_at)), "
            "extract(epoch FROM max(processed_at) - min(received_at)), "
            "count(*) FILTER (WHERE status = 'processed') "
            "FROM webhooks_incomingwebhook WHERE received_at >= to_timestamp(%s)",
            (since,),
        ).fetchone()
    assert stats is not None
    count, p50, p99, worst, span, processed = stats
    return {
        "events": count,
        "processed": processed,
        "lag_p50_ms": round(float(p50 or 0) * 1000, 1),
        "lag_p99_ms": round(float(p99 or 0) * 1000, 1),
        "lag_max_ms": round(float(worst or 0) * 1000, 1),
        "processed_per_s": round(count / float(span), 1) if span else 0.0,
    }


def run_at_rate(wrk: str, scenario: Scenario, *, rate: float, seconds: int, options: dict[str, Any]) -> dict[str, Any]:
    """Hold about `rate` req/s: each connection pauses after every answer for (connections / rate)
    minus the service time, which a short calibration run at that rate measures first."""
    period_ms = 1000.0 * options["connections"] / rate
    calibration = run_wrk(wrk, scenario, seconds=5, delay_ms=period_ms, **options)
    service_ms = calibration["mean_us"] / 1000
    return run_wrk(wrk, scenario, seconds=seconds, delay_ms=max(1.0, period_ms - service_ms), **options)


def to_result(scenario: Scenario, raw: dict[str, Any]) -> Result:
    seconds = raw["duration_us"] / 1e6
    return Result(
        key=scenario.key,
        title=scenario.title,
        requests=raw["requests"],
        seconds=round(seconds, 2),
        rps=round(raw["requests"] / seconds, 1),
        p50_ms=round(raw["p50_us"] / 1000, 2),
        p90_ms=round(raw["p90_us"] / 1000, 2),
        p99_ms=round(raw["p99_us"] / 1000, 2),
        max_ms=round(raw["max_us"] / 1000, 2),
        non_2xx=raw["non_2xx"],
        socket_errors=raw["socket_errors"],
        baseline=scenario.baseline,
        floor=scenario.floor,
        target=scenario.target,
    )


def merge_baseline_runs(first: Result, second: Result) -> Result:
    def mean(a: float, b: float) -> float:
        return round((a + b) / 2, 2)

    merged = Result(
        key=first.key,
        title=first.title,
        requests=first.requests + second.requests,
        seconds=round(first.seconds + second.seconds, 2),
        rps=mean(first.rps, second.rps),
        p50_ms=mean(first.p50_ms, second.p50_ms),
        p90_ms=mean(first.p90_ms, second.p90_ms),
        p99_ms=mean(first.p99_ms, second.p99_ms),
        max_ms=max(first.max_ms, second.max_ms),
        non_2xx=first.non_2xx + second.non_2xx,
        socket_errors=first.socket_errors + second.socket_errors,
        floor=first.floor,
        target=first.target,
    )
    merged.extra = {"runs_rps": [first.rps, second.rps], "drift_pct": round(100 * (second.rps / first.rps - 1), 1)}
    runs_cpu = [run.extra.get("cpu_ms_per_request") for run in (first, second)]
    if all(runs_cpu):
        merged.extra["cpu_ms_per_request"] = {
            group: mean(runs_cpu[0][group], runs_cpu[1][group]) for group in runs_cpu[0]
        }
    return merged


def compute_ratios(results: list[Result]) -> None:
    """Each result's ratio to its baseline and to its bare floor, from the results so far (run
    again after every step: a baseline's second run replaces its first)."""
    by_key = {result.key: result for result in results}
    for result in results:
        base = by_key.get(result.baseline or "")
        if base is not None and result.key.endswith("@half"):
            result.extra["added_p99_ms"] = round(result.p99_ms - base.p99_ms, 2)
            own = by_key.get(result.extra.get("also_compare_with", ""))
            if own is not None:
                result.extra["added_p99_vs_own_half_ms"] = round(result.p99_ms - own.p99_ms, 2)
        elif base is not None:
            result.ratio = round(result.rps / base.rps, 3) if base.rps else None
        floor = by_key.get(result.floor or "")
        result.floor_ratio = round(result.rps / floor.rps, 3) if floor is not None and floor.rps else None


def floor_cell(result: Result) -> str:
    """The "vs bare floor" column: the ratio, and against the issue's target where it has one."""
    if result.key in BARE_SCENARIOS:
        return "floor"
    if result.floor is None:
        return ""
    if result.floor_ratio is None:
        return f"({result.floor}: not measured)"
    cell = f"{result.floor_ratio:.2f}x"
    if result.target is not None:
        cell += f" {'ok' if result.floor_ratio >= result.target else 'LOW'} (>={result.target:.2f})"
    return cell


def print_table(results: list[Result], context: dict[str, Any]) -> None:
    compute_ratios(results)
    by_key = {result.key: result for result in results}
    print()
    print(f"Clearhouse benchmark  {context['when']}")
    print(
        f"  {context['cpus']} CPUs, Python {context['python']}, gunicorn {context['workers']} sync workers, "
        f"wrk {context['threads']} threads x {context['connections']} connections, {context['seconds']}s per scenario"
    )
    print(
        "  bare floor: tests/bench/bare/ (Django + DRF, CommonMiddleware only, no auth), same gunicorn command "
        "line, own database on the same PostgreSQL"
    )
    print()
    width = max(66, *(len(result.title) for result in results))
    header = (
        f"{'scenario':<{width}} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}  {'vs bare floor':<21}"
        f"  ratio to baseline"
    )
    print(header)
    print("-" * len(header))
    for result in results:
        ratio = ""
        base = by_key.get(result.baseline or "")
        if base is not None and result.key.endswith("@half"):
            ratio = f"p99 {result.extra['added_p99_ms']:+.1f} ms vs '{base.key}' (same rate)"
            if "added_p99_vs_own_half_ms" in result.extra:
                ratio += (
                    f", {result.extra['added_p99_vs_own_half_ms']:+.1f} ms vs "
                    f"'{result.extra['also_compare_with']}' (same utilisation)"
                )
        elif base is not None and result.ratio is not None:
            ratio = f"{result.ratio:.2f}x of '{base.key}' ({base.rps:.0f} req/s)"
        elif result.baseline:
            ratio = f"('{result.baseline}' not measured)"
        elif "runs_rps" in result.extra:
            first, second = result.extra["runs_rps"]
            ratio = f"(baseline: mean of {first:.0f} and {second:.0f} req/s, drift {result.extra['drift_pct']:+.1f}%)"
        errors = result.non_2xx + result.socket_errors
        print(
            f"{result.title:<{width}} {result.rps:>9.1f} {result.p50_ms:>8.2f} {result.p99_ms:>8.2f} {errors:>7}  "
            f"{floor_cell(result):<21}  {ratio}".rstrip()
        )
    print_cpu_table(results, width)
    targets = [
        f"{result.key} {result.floor_ratio:.2f}x of '{result.floor}' "
        f"(target {result.target:.2f}: {'met' if result.floor_ratio >= result.target else 'NOT MET'})"
        for result in results
        if result.target is not None and result.floor_ratio is not None
    ]
    if targets:
        print()
        print("Targets against the bare floor: " + "; ".join(targets))
    print()


def print_cpu_table(results: list[Result], width: int) -> None:
    """Where each scenario's CPU went, per request (tests/bench/cpu.py), and the part above its baseline's."""
    measured = [result for result in results if result.extra.get("cpu_ms_per_request")]
    if not measured:
        return
    by_key = {result.key: result for result in results}
    print()
    print("CPU per request, ms (the whole machine; 'app': the server the scenario ran on)")
    header = f"{'scenario':<{width}} " + " ".join(f"{group:>8}" for group in (*cpu.GROUPS, "total"))
    header += "  above its baseline (or bare floor)"
    print(header)
    print("-" * len(header))
    for result in measured:
        spent = result.extra["cpu_ms_per_request"]
        base = by_key.get(result.baseline or result.floor or "")
        above = ""
        if base is not None and base.extra.get("cpu_ms_per_request"):
            theirs = base.extra["cpu_ms_per_request"]
            above = ", ".join(
                f"{group} {spent[group] - theirs[group]:+.2f}" for group in ("app", "sandbox", "postgres", "total")
            )
            above += f" (vs '{base.key}')"
        cells = " ".join(f"{spent[group]:>8.2f}" for group in (*cpu.GROUPS, "total"))
        print(f"{result.title:<{width}} {cells}  {above}".rstrip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=int(os.environ.get("BENCH_SECONDS", "15")))
    parser.add_argument("--warmup", type=int, default=3)
    # Long enough for a p99 of several hundred samples at a dozen requests a second.
    parser.add_argument("--half-seconds", type=int, default=45)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=(os.cpu_count() or 2) * 2)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--sandbox-workers", type=int, default=2)
    # Checkout cycles run one connection per wrk thread (their three steps alternate).
    parser.add_argument("--checkout-connections", type=int, default=8)
    parser.add_argument(
        "--only",
        nargs="*",
        help="scenario keys to run (their baselines and bare floors are always run); also billing, ingest, recon, admin, audit",
    )
    # Audited writes (`audit`, tests/bench/audit.py): seconds per variant and round.
    parser.add_argument("--audit-seconds", type=float, default=20.0)  # 10 s windows of 16 writers were noisy
    parser.add_argument("--billing-counts", type=int, nargs="*", default=[10_000, 50_000])
    # Several worker counts (`--billing-workers 1 2`): the billing half of the scale run, each count
    # billed by 1 and then by 2 worker processes.
    parser.add_argument("--billing-workers", type=int, nargs="+", default=[2])
    # Webhook ingest (`ingest`, tests/bench/scale.py): backlog sizes, each drained by each worker count.
    parser.add_argument("--ingest-counts", type=int, nargs="+", default=[2_000, 8_000])
    parser.add_argument("--ingest-workers", type=int, nargs="+", default=[1, 2])
    # Reconciliation (`recon`) and back-office pages (`admin`): payments in the big table, and in
    # the small one the pages are measured against first.
    parser.add_argument("--recon-count", type=int, default=1_000_000)
    parser.add_argument("--admin-small", type=int, default=10_000)
    parser.add_argument("--admin-rounds", type=int, default=30)
    # Processing lag of gateway notifications is measured at this steady rate, and after a burst at
    # the acceptance peak (how fast the worker drains it).
    parser.add_argument("--webhook-lag-rate", type=float, default=25.0)
    parser.add_argument("--webhook-burst-seconds", type=int, default=5)
    parser.add_argument(
        "--admin-database-url",
        default=os.environ.get("BENCH_ADMIN_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
    )
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13"))
    args = parser.parse_args()

    wrk = ensure_wrk()
    # A SIGTERM (a timeout, kill) ends the run as Ctrl-C does: servers stopped, results kept.
    signal.signal(signal.SIGTERM, _terminate)
    out_dir = ROOT / "var" / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    (ROOT / "var" / "staticfiles").mkdir(parents=True, exist_ok=True)
    run_file = out_dir / f"run-{time.strftime('%Y%m%d-%H%M%S')}.json"
    context: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "finished": None,
        "complete": False,
        "only": args.only,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "workers": args.workers,
        "threads": args.threads,
        "connections": args.connections,
        "seconds": args.seconds,
    }
    results: list[Result] = []
    billing_results: dict[str, Any] = {}  # by worker count
    ingest_results: dict[str, Any] = {}
    recon_results: dict[str, Any] = {}
    audit_results: dict[str, Any] = {}
    failures: list[dict[str, str]] = []

    def save() -> None:
        """Everything measured so far, on disk (written after every step)."""
        compute_ratios(results)
        document = {
            "context": context,
            "results": [asdict(r) for r in results],
            "billing": billing_results,
            "ingest": ingest_results,
            "recon": recon_results,
            "audit": audit_results,
            "failures": failures,
        }
        text = json.dumps(document, indent=2)
        for path in (out_dir / "last.json", run_file):
            partial_file = path.with_name(path.name + ".tmp")
            partial_file.write_text(text)
            partial_file.replace(path)

    def attempt(step: str, action: Callable[[], T]) -> T | None:
        """Run one step; if it fails, log why and carry on (the run exits non-zero at the end)."""
        try:
            return action()
        except Exception as error:
            trace = "" if isinstance(error, StepFailed) else traceback.format_exc()
            log(f"{step} FAILED (carrying on with the other steps): {type(error).__name__}: {error}\n{trace}")
            failures.append({"step": step, "error": shortened(f"{type(error).__name__}: {error}"), "traceback": trace})
            return None
        finally:
            save()

    servers: list[subprocess.Popen[bytes]] = []
    try:
        database_url = args.admin_database_url.rsplit("/", 1)[0] + f"/{BENCH_DB}"
        env = base_env(database_url, args.redis_url)
        log(f"recreating database {BENCH_DB}")
        recreate_database(args.admin_database_url)
        manage(env, "migrate", "--noinput", "-v0")
        output = manage(env, "shell", "-c", SETUP_SNIPPET)
        printed = dict(line.split("=", 1) for line in output.splitlines() if line.startswith("BENCH_"))
        env["BENCH_API_KEY"] = printed["BENCH_KEY"]
        env["BENCH_RUN_ID"] = uuid.uuid4().hex[:12]
        for name in ("BENCH_GATEWAY_ACCOUNT", "BENCH_SIGNATURE_KEY", "BENCH_PRICE", "BENCH_STRIPE_KEY",
                     "BENCH_SESSIONS_KEY", "BENCH_SESSIONS_CUSTOMER"):  # fmt: skip
            env[name] = printed[name]

        wanted = set(args.only or [*(s.key for s in SCENARIOS), "billing", "ingest", "recon", "admin", "audit"])
        wanted |= {s.baseline for s in SCENARIOS if s.key in wanted and s.baseline}
        wanted |= {s.floor for s in SCENARIOS if s.key in wanted and s.floor}
        selected = [s for s in SCENARIOS if s.key in wanted]
        sandbox_port = args.port + 1
        log(f"starting the gateway sandbox under gunicorn ({args.sandbox_workers} workers) on port {sandbox_port}")
        servers.append(start_gunicorn(env, sandbox_port, args.sandbox_workers, name="sandbox"))
        env["AUTHORIZENET_TEST_ENDPOINT"] = f"http://127.0.0.1:{sandbox_port}/sandbox/authorizenet/xml/v1/request.api"
        env["RAZORPAY_TEST_API_BASE"] = f"http://127.0.0.1:{sandbox_port}/sandbox/razorpay"
        env["STRIPE_TEST_API_BASE"] = f"http://127.0.0.1:{sandbox_port}/sandbox/stripe"
        log(f"starting the app under gunicorn with {args.workers} workers")
        servers.append(start_gunicorn(env, args.port, args.workers))
        options = {"port": args.port, "connections": args.connections, "threads": args.threads, "env": env}
        risk_off_port = args.port + 2
        if any(scenario.key in RISK_OFF_SCENARIOS for scenario in selected):
            log(f"starting a second app server with risk off on port {risk_off_port}")
            risk_off_env = {**env, "RISK_ENABLED": "false"}
            servers.append(start_gunicorn(risk_off_env, risk_off_port, args.workers, "risk-off"))
        traced_port, collector = args.port + 4, Collector(args.port + 5)
        if any(scenario.key in TRACED_SCENARIOS for scenario in selected):
            log(f"starting an app server with tracing on, port {traced_port}, its collector on {collector.port}")
            collector.start()
            traced_env = {**env, "TRACING_ENABLED": "true", "TRACING_SAMPLE_RATIO": "1.0",
                          "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint}  # fmt: skip
            servers.append(start_gunicorn(traced_env, traced_port, args.workers, "traced"))
        no_pool_port = args.port + 6
        if any(scenario.key in NO_POOL_SCENARIOS for scenario in selected):
            log(f"starting an app server without the connection pool on port {no_pool_port}")
            servers.append(start_gunicorn({**env, "DB_POOL": "false"}, no_pool_port, args.workers, "no-pool"))
        bare_port, bare_url = args.port + 3, args.admin_database_url.rsplit("/", 1)[0] + f"/{BARE_DB}"
        if any(scenario.key in BARE_SCENARIOS for scenario in selected):

            def start_bare() -> bool:
                log(f"bare floor: database {BARE_DB}, the bare app under gunicorn ({args.workers} workers)")
                env["BENCH_BARE_ROW"] = bare_setup(args.admin_database_url, bare_url)
                bare = start_gunicorn(
                    bare_env(bare_url), bare_port, args.workers, "bare", app=BARE_APP, config=BARE_GUNICORN_CONFIG
                )
                servers.append(bare)
                return True

            if not attempt("bare floor set-up", start_bare):
                selected = [s for s in selected if s.key not in BARE_SCENARIOS]

        def on_its_server(scenario: Scenario, scenario_options: dict[str, Any]) -> dict[str, Any]:
            if scenario.key in BARE_SCENARIOS:
                return {**scenario_options, "port": bare_port}
            if scenario.key in RISK_OFF_SCENARIOS:
                return {**scenario_options, "port": risk_off_port}
            if scenario.key in TRACED_SCENARIOS:
                return {**scenario_options, "port": traced_port}
            if scenario.key in NO_POOL_SCENARIOS:
                return {**scenario_options, "port": no_pool_port}
            if scenario.key == "purchase_rules" and "RULES=200" not in manage(env, "shell", "-c", RULES_SNIPPET):
                raise StepFailed("could not install 200 active rules")
            return scenario_options

        def measure(scenario: Scenario) -> Result:
            log(f"{scenario.key}: warm-up {args.warmup}s, then {args.seconds}s")
            scenario_options = options
            if scenario.key == "webhook":
                accept_file = out_dir / "webhooks-accept.tsv"
                write_notifications(accept_file, env["BENCH_SIGNATURE_KEY"], 2000 * (args.warmup + args.seconds))
                scenario_options = {**options, "env": {**env, "BENCH_WEBHOOK_FILE": str(accept_file)}}
            elif scenario.key in STRIPE_SCENARIOS:
                scenario_options = {**options, "env": {**env, "BENCH_API_KEY": env["BENCH_STRIPE_KEY"]}}
            elif scenario.key == "customer_payments_key":
                scenario_options = {**options, "env": {**env, "BENCH_API_KEY": env["BENCH_SESSIONS_KEY"]}}
            elif scenario.key == "customer_payments":
                minted = manage(env, "shell", "-c", MINT_SNIPPET % env["BENCH_SESSIONS_CUSTOMER"])
                token = next(
                    line.split("=", 1)[1] for line in minted.splitlines() if line.startswith("BENCH_CUSTOMER_")
                )
                scenario_options = {**options, "env": {**env, "BENCH_API_KEY": token}}
            elif scenario.key in CHECKOUT_SCENARIOS:
                mode = "floor" if scenario.key == "checkout_floor" else "ours"
                lanes = args.checkout_connections
                scenario_options = {**options, "connections": lanes, "threads": lanes,
                                    "env": {**env, "BENCH_CHECKOUT_MODE": mode}}  # fmt: skip
            scenario_options = on_its_server(scenario, scenario_options)
            run_wrk(wrk, scenario, seconds=args.warmup, **scenario_options)
            analyse(bare_url if scenario.key in BARE_SCENARIOS else database_url)  # the warm-up's rows included
            spans_before = collector.spans
            cpu_before = cpu.snapshot(scenario_options["port"])
            result = to_result(scenario, run_wrk(wrk, scenario, seconds=args.seconds, **scenario_options))
            cpu_spent = cpu.per_request(cpu_before, cpu.snapshot(scenario_options["port"]), result.requests)
            if scenario.key in TRACED_SCENARIOS:
                # Proof that tracing ran: the spans the collector received (exports are batched).
                time.sleep(6)
                spans = collector.spans - spans_before
                result.extra = {"spans_exported": spans, "spans_per_request": round(spans / max(result.requests, 1), 1),
                                "target_ratio": TRACED_TARGET}  # fmt: skip
                if not spans:
                    raise StepFailed(f"{scenario.key}: the collector received no span")
            if scenario.key == "customer_payments":
                result.extra = {"target_ratio": CUSTOMER_SESSION_TARGET}
            result.extra["cpu_ms_per_request"] = cpu_spent
            return result

        # Rate-limited runs use few connections, so wrk's per-connection pacing holds the rate.
        half_options = {**options, "connections": 4}

        def measure_half(scenario: Scenario, rate: float, label: str, compare_with: str | None, own: str) -> Result:
            log(f"{label}: at {rate:.1f} req/s for {args.half_seconds}s")
            on_server = on_its_server(scenario, half_options)
            analyse(bare_url if scenario.key in BARE_SCENARIOS else database_url)
            half = to_result(
                scenario, run_at_rate(wrk, scenario, rate=rate, seconds=args.half_seconds, options=on_server)
            )
            half.key, half.title = label, f"{scenario.title} @ {rate:.0f} req/s"
            half.baseline, half.floor, half.target = compare_with, None, None
            half.extra = {"target_rps": round(rate, 1)}
            if compare_with:
                half.extra["also_compare_with"] = own
            return half

        def measure_webhook_lag(scenario: Scenario, peak_rps: float) -> None:
            """The steady and the burst run, each kept (and saved) as soon as it is measured."""
            clear_webhook_backlog(database_url, args.redis_url)
            lag_file = out_dir / "webhooks-lag.tsv"
            steady = int(args.webhook_lag_rate * (args.half_seconds + 5) * 1.2) + 200
            burst = int(peak_rps * args.webhook_burst_seconds * 1.5) + 200
            log(f"webhook lag: creating {steady + burst} payments and their signed notifications")
            manage(env, "shell", "-c", LAG_SETUP_SNIPPET % (steady + burst, str(lag_file)))
            lag_env = {**env, "BENCH_WEBHOOK_FILE": str(lag_file)}
            worker = start_worker(env)
            try:
                time.sleep(3)
                log(f"webhook@lag: {args.webhook_lag_rate:.0f} req/s for {args.half_seconds}s with a Celery worker")
                since = time.time()
                raw = run_at_rate(wrk, scenario, rate=args.webhook_lag_rate, seconds=args.half_seconds,
                                  options={**half_options, "env": lag_env})  # fmt: skip
                steady_result = to_result(scenario, raw)
                steady_result.extra = processing_lag(database_url, since)
                steady_result.key, steady_result.baseline, steady_result.floor = "webhook@lag", None, None
                steady_result.title = f"{scenario.title} @ {args.webhook_lag_rate:.0f} req/s, worker on"
                results.append(steady_result)
                save()
                log(f"webhook@burst: peak load for {args.webhook_burst_seconds}s, then drain")
                since = time.time()
                raw = run_wrk(wrk, scenario, seconds=args.webhook_burst_seconds, **{**options, "env": lag_env})
                burst_result = to_result(scenario, raw)
                burst_result.extra = processing_lag(database_url, since)
                burst_result.key, burst_result.baseline, burst_result.floor = "webhook@burst", None, None
                burst_result.title = f"{scenario.title}, {args.webhook_burst_seconds}s burst, worker on"
                results.append(burst_result)
            finally:
                stop(worker)

        save()
        for scenario in selected:
            measured = attempt(scenario.key, functools.partial(measure, scenario))
            if measured is not None:
                results.append(measured)
                save()
        # Baselines again at the end: this machine is a shared VM, so report the mean of the
        # two and how far they drifted, and compare every scenario with that mean.
        scenario_by_key = {s.key: s for s in selected}
        for index, result in enumerate(results):
            if result.baseline is None and result.key in scenario_by_key:
                again = attempt(f"{result.key} (second run)", functools.partial(measure, scenario_by_key[result.key]))
                if again is not None:
                    results[index] = merge_baseline_runs(result, again)
                    save()
        by_key = {result.key: result for result in results}
        for key, baseline_key in HALF_PEAK.items():
            if key not in by_key or baseline_key not in by_key:
                continue
            # Two readings of "at half of peak load": both at half the scenario's peak rate (the
            # same absolute load), and the baseline at half of its own peak (the same utilisation).
            runs = [
                (key, by_key[key].rps / 2, f"{key}@half", f"{baseline_key}@half"),
                (baseline_key, by_key[key].rps / 2, f"{baseline_key}@half", None),
                (baseline_key, by_key[baseline_key].rps / 2, f"{baseline_key}@own-half", None),
            ]
            for scenario_key, rate, label, compare_with in runs:
                half_run = functools.partial(
                    measure_half, scenario_by_key[scenario_key], rate, label, compare_with, f"{baseline_key}@own-half"
                )
                half = attempt(label, half_run)
                if half is not None:
                    results.append(half)
                    save()
        webhook = scenario_by_key.get("webhook")
        if webhook is not None and "webhook" in by_key:
            attempt("webhook lag", functools.partial(measure_webhook_lag, webhook, by_key["webhook"].rps))
        if "billing" in wanted:
            from billing import run_billing

            for billing_workers in args.billing_workers:
                attempt(
                    f"billing ({billing_workers} workers)",
                    functools.partial(
                        run_billing,
                        env=env,
                        database_url=database_url,
                        manage=manage,
                        stop=stop,
                        log=log,
                        counts=args.billing_counts,
                        workers=billing_workers,
                        results=billing_results.setdefault(str(billing_workers), {}),
                        on_step=save,
                    ),
                )
        if "ingest" in wanted:
            from scale import run_ingest

            attempt(
                "ingest",
                functools.partial(
                    run_ingest,
                    env=env,
                    manage=manage,
                    stop=stop,
                    log=log,
                    database_url=database_url,
                    app_url=f"http://127.0.0.1:{args.port}",
                    setup_snippet=LAG_SETUP_SNIPPET,
                    clear_backlog=functools.partial(clear_webhook_backlog, database_url, args.redis_url),
                    counts=args.ingest_counts,
                    worker_counts=args.ingest_workers,
                    out_dir=out_dir,
                    results=ingest_results,
                    on_step=save,
                ),
            )
        if "audit" in wanted:
            from audit import run_audit

            attempt(
                "audit",
                functools.partial(
                    run_audit, env=env, manage=manage, log=log, seconds=args.audit_seconds, results=audit_results
                ),
            )
        if wanted & {"recon", "admin"}:
            from recon import run_recon

            attempt(
                "recon/admin",
                functools.partial(
                    run_recon,
                    env=env,
                    manage=manage,
                    log=log,
                    count=args.recon_count,
                    small=args.admin_small,
                    admin_rounds=args.admin_rounds,
                    with_recon="recon" in wanted,
                    with_admin="admin" in wanted,
                    results=recon_results,
                    attempt=attempt,
                ),
            )
        context["complete"] = True
    except StepFailed as error:  # the system could not be set up or started
        log(f"set-up FAILED: {error}")
        failures.append({"step": "set-up", "error": shortened(f"StepFailed: {error}")})
    finally:
        for server in reversed(servers):
            stop(server)
        collector.stop()
        context["finished"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
        save()
        report(results, billing_results, recon_results, failures, context, audit_results, ingest_results)
        log(f"results written to {out_dir / 'last.json'} and {run_file}")
    problems = []
    if failures:
        problems.append(f"{len(failures)} step(s) failed: {', '.join(f['step'] for f in failures)}")
    if any(result.non_2xx or result.socket_errors for result in results):
        problems.append("some scenarios answered with errors (see the errors column)")
    if problems:
        sys.exit("; ".join(problems))


def shortened(text: str, head: int = 1000, tail: int = 3000) -> str:
    return text if len(text) <= head + tail else f"{text[:head]}\n[...]\n{text[-tail:]}"


def headline(error: str) -> str:
    """An error's first line, and the exception that ended it where the output holds a traceback."""
    lines = [line for line in error.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    raised = next(
        (line for line in reversed(lines) if re.match(r"[\w.]*(Error|Exception|Returned|DoesNotExist)\b", line)), None
    )
    return lines[0] + (f" ... {raised}" if raised and raised != lines[0] else "")


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def report(
    results: list[Result],
    billing_results: dict[str, Any],
    recon_results: dict[str, Any],
    failures: list[dict[str, str]],
    context: dict[str, Any],
    audit_results: dict[str, Any] | None = None,
    ingest_results: dict[str, Any] | None = None,
) -> None:
    """Print what was measured (all of it, or as much as there is when a step failed)."""
    if results:
        print_table(results, context)
    for by_workers in billing_results.values():
        if by_workers.get("runs"):
            from billing import print_billing

            print_billing(by_workers)
    if ingest_results:
        from scale import print_ingest

        print_ingest(ingest_results)
    if recon_results:
        from recon import print_recon

        print_recon(recon_results)
    if audit_results:
        from audit import print_audit

        print_audit(audit_results)
    for result in results:
        if "lag_p50_ms" in result.extra:
            lag = result.extra
            print(
                f"{result.key}: {lag['events']} notifications stored ({lag['processed']} processed); lag from "
                f"receipt to processed p50 {lag['lag_p50_ms']:.0f} ms, p99 {lag['lag_p99_ms']:.0f} ms, max "
                f"{lag['lag_max_ms']:.0f} ms; {lag['processed_per_s']:.1f} notifications/s end to end"
            )
    if not context["complete"]:
        print("\nThe run did not finish: the figures above are what was measured before it stopped.")
    if failures:
        print("\nFailed steps (the others ran):")
        for failure in failures:
            print(f"  {failure['step']}: {headline(failure['error'])}")
    print()


if __name__ == "__main__":
    main()
