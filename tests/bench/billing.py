"""The recurring-billing benchmark, run by `make bench` (tests/bench/run.py, scenario `billing`).

For each count (10,000 then 50,000 by default): that many subscriptions fall due at once and
Celery beat's `billing_run` hands them to two Celery workers (one process each), which bill
them through the SDK against the Authorize.Net sandbox. Reported: renewals per second, the total
time, and how the time grows with the count. The floor, measured in the same run, is the same
saved-card charge made through the SDK in a bare loop that stores nothing, in as many processes
as there are billing workers.

Set-up shortcut, stated plainly: the subscriptions are bulk-inserted, and all their customers
share one card saved in the sandbox's vault (one customer + payment profile, saved through the
SDK), because saving 50,000 cards one SDK call at a time would take longer than the billing it
sets up. Every charge is still a real createTransaction with that profile.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

# The bench merchant has several gateway accounts: each lookup names the Authorize.Net one by the
# public id run.py's set-up printed (BENCH_GATEWAY_ACCOUNT, in the environment manage.py runs with).
SETUP = """
import json
import os
from datetime import timedelta
from django.utils import timezone
from apps.audit.actors import Actor
from apps.customers.models import Customer, PaymentMethod, VaultProfile
from apps.customers.services import customer_create, payment_method_add
from apps.gateways.base import Card
from apps.gateways.models import GatewayAccount
from apps.subscriptions.models import Plan, Subscription
from apps.subscriptions.services import plan_create
count, tag = %d, %r
actor = Actor.system("bench")
account = GatewayAccount.objects.get(public_id=os.environ["BENCH_GATEWAY_ACCOUNT"], gateway="authorizenet")
merchant = account.merchant
template = Customer.objects.filter(merchant=merchant, email="bench-card@example.com").first()
if template is None:
    template = customer_create(merchant=merchant, email="bench-card@example.com", actor=actor)
    payment_method_add(customer=template, livemode=False, payment=Card("4111111111111111", 12, 2030, "123"), actor=actor)
card = PaymentMethod.objects.select_related("profile").get(customer=template, gateway_account=account)
plan = Plan.objects.filter(merchant=merchant, name="Bench monthly").first() or plan_create(
    merchant=merchant, name="Bench monthly", amount=1500, currency="USD", interval="month", actor=actor)
now = timezone.now()
customers = Customer.objects.bulk_create(
    Customer(merchant=merchant, email=f"{tag}-{n}@example.com") for n in range(count))
profiles = VaultProfile.objects.bulk_create(
    VaultProfile(customer=c, gateway_account=account, customer_token=card.profile.customer_token) for c in customers)
methods = PaymentMethod.objects.bulk_create(
    PaymentMethod(merchant=merchant, customer=c, gateway_account=account, profile=p, payment_token=card.payment_token,
                  card_brand="visa", card_last4="1111", exp_month=12, exp_year=2030, is_default=True)
    for c, p in zip(customers, profiles))
start = now - timedelta(days=30)
Subscription.objects.bulk_create(
    Subscription(merchant=merchant, customer=c, plan=plan, payment_method=m, gateway_account=account, status="active",
                 billing_anchor=start, current_period_start=start, current_period_end=now - timedelta(seconds=5),
                 next_billing_at=now - timedelta(seconds=5))
    for c, m in zip(customers, methods))
print("BENCH_BILLING=" + json.dumps({"customer_token": card.profile.customer_token,
                                     "payment_token": card.payment_token}))
"""

FLOOR = """
import json, os, time
import multiprocessing
from django.db import connections
from apps.gateways.base import ChargeRequest, SavedCard
from apps.gateways.models import GatewayAccount
from apps.gateways.registry import gateway_for
processes, seconds, tokens, tag = %d, %f, json.loads(%r), %r
account = GatewayAccount.objects.get(public_id=os.environ["BENCH_GATEWAY_ACCOUNT"], gateway="authorizenet")
connections.close_all()  # nothing is stored: the loops only talk to the gateway

def loop(lane, results):
    gateway = gateway_for(account)
    card = SavedCard(tokens["customer_token"], tokens["payment_token"])
    done, deadline = 0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        gateway.sale(ChargeRequest(reference=f"{tag}{lane}x{done}", amount=1500, currency="USD", payment=card))
        done += 1
    results.put(done)

context = multiprocessing.get_context("fork")
results = context.Queue()
started = time.perf_counter()
lanes = [context.Process(target=loop, args=(lane, results)) for lane in range(processes)]
for lane in lanes:
    lane.start()
total = sum(results.get() for _ in lanes)
for lane in lanes:
    lane.join()
print("BENCH_FLOOR=" + json.dumps({"charges": total, "seconds": time.perf_counter() - started}))
"""

# Polled straight from PostgreSQL (a Django process every few seconds would cost CPU the
# workers need).
PROGRESS_SQL = """
SELECT count(*) FILTER (WHERE a.status = 'succeeded'), count(*) FILTER (WHERE a.status <> 'pending'),
       extract(epoch FROM max(a.completed_at))
FROM subscriptions_billingattempt a
JOIN subscriptions_invoice i ON i.id = a.invoice_id
JOIN subscriptions_subscription s ON s.id = i.subscription_id
JOIN payments_customer c ON c.id = s.customer_id
WHERE c.email LIKE %s
"""


def _progress(database_url: str, tag: str) -> dict[str, Any]:
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as connection:
        succeeded, finished, last = connection.execute(PROGRESS_SQL, [f"{tag}-%"]).fetchone()
    return {"succeeded": succeeded, "finished": finished, "last": float(last) if last else None}


def _value(output: str, name: str) -> Any:
    line = next(line for line in output.splitlines() if line.startswith(name + "="))
    return json.loads(line.split("=", 1)[1])


def _start_worker(env: dict[str, str], name: str) -> subprocess.Popen[bytes]:
    command = [str(BIN / "celery"), "-A", "config", "worker", "--loglevel", "WARNING", "--concurrency", "1",
               "--queues", "billing", "--hostname", f"{name}@%h", "--without-mingle", "--without-gossip"]  # fmt: skip
    return subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)


def _floor(env: dict[str, str], manage: Callable[..., str], tokens: dict[str, str], workers: int, seconds: float,
           tag: str) -> float:  # fmt: skip
    floor = _value(manage(env, "shell", "-c", FLOOR % (workers, seconds, json.dumps(tokens), tag)), "BENCH_FLOOR")
    return float(floor["charges"] / floor["seconds"])


def run_billing(
    *,
    env: dict[str, str],
    database_url: str,
    manage: Callable[..., str],
    stop: Callable[[subprocess.Popen[bytes]], None],
    log: Callable[[str], None],
    counts: list[int],
    workers: int = 2,
    floor_seconds: float = 30.0,
    results: dict[str, Any] | None = None,
    on_step: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Each count is billed between two floor measurements; its ratio is to their mean (this VM
    drifts). Fills `results` as it goes (each count's figures as soon as they are known) and calls
    `on_step` after each measurement, so a failure later loses nothing measured before it."""
    worker_env = {**env, "BILLING_PARALLEL_TASKS": str(workers), "BILLING_BATCH_SIZE": "50"}
    results = results if results is not None else {}
    results.update({"workers": workers, "runs": [], "floors": []})
    floors: list[float] = results["floors"]

    def step_done() -> None:
        if on_step is not None:
            on_step()

    for index, count in enumerate(counts):
        tag = f"bill{index}-{count}"
        log(f"billing: creating {count} due subscriptions")
        tokens = _value(manage(env, "shell", "-c", SETUP % (count, tag)), "BENCH_BILLING")
        if index == 0:
            log(f"billing floor: bare SDK saved-card charges in {workers} processes for {floor_seconds:.0f}s")
            floors.append(round(_floor(env, manage, tokens, workers, floor_seconds, f"fl{index}"), 1))
            step_done()
        procs = [_start_worker(worker_env, f"billing{n}") for n in range(workers)]
        try:
            time.sleep(4)
            log(f"billing: {count} renewals by {workers} workers")
            started = time.time()
            manage(worker_env, "shell", "-c", "from apps.subscriptions.tasks import billing_run; billing_run.delay()")
            progress: dict[str, Any] = {}
            while time.time() - started < 4 * 3600:
                time.sleep(2)
                progress = _progress(database_url, tag)
                if progress["finished"] >= count:
                    break
                if int(time.time() - started) % 30 < 2:
                    log(f"billing: {progress['finished']}/{count} after {time.time() - started:.0f}s")
        finally:
            for proc in procs:
                stop(proc)
        log(f"billing floor again: {floor_seconds:.0f}s")
        seconds = (progress["last"] or time.time()) - started
        floors.append(round(_floor(env, manage, tokens, workers, floor_seconds, f"fl{index + 1}x"), 1))
        floor = (floors[-2] + floors[-1]) / 2
        run = {
            "count": count,
            "succeeded": progress["succeeded"],
            "seconds": round(seconds, 1),
            "renewals_per_s": round(progress["succeeded"] / seconds, 1) if seconds else 0.0,
            "floor_per_s": round(floor, 1),
        }
        first = results["runs"][0] if results["runs"] else run
        run["ratio_to_floor"] = round(run["renewals_per_s"] / run["floor_per_s"], 3)
        run["time_per_renewal_ms"] = round(1000 * run["seconds"] / run["count"], 2)
        run["time_growth_vs_first"] = round(run["seconds"] / first["seconds"], 2)
        run["count_growth_vs_first"] = round(run["count"] / first["count"], 2)
        results["runs"].append(run)
        step_done()
    return results


def print_billing(results: dict[str, Any]) -> None:
    print(f"Recurring billing: {results['workers']} Celery workers (1 process each) vs the floor in as many processes")
    floors = ", ".join(f"{floor:.1f}" for floor in results["floors"])
    print(f"  floor: bare SDK saved-card charges, nothing stored, measured before and after each count: {floors}/s")
    for run in results["runs"]:
        print(
            f"  {run['count']:>6} due: {run['succeeded']} renewed in {run['seconds']:.1f}s = "
            f"{run['renewals_per_s']:.1f} renewals/s ({run['ratio_to_floor']:.2f}x of the floor {run['floor_per_s']:.1f}/s), "
            f"{run['time_per_renewal_ms']:.2f} ms per renewal; time x{run['time_growth_vs_first']:.2f} "
            f"for count x{run['count_growth_vs_first']:.2f}"
        )
    print()
