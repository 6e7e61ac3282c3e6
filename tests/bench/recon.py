"""Reconciliation and back-office benchmarks, run by `make bench` (tests/bench/run.py, scenarios
`recon` and `admin`).

recon: N payments (1,000,000 by default), each captured with its ledger entry, and a settlement of
N lines in 10 batches (0.1% settled for another amount, 0.1% of our captures missing from the
settlement, 0.1% lines for transactions we never saw) are matched by `reconcile` (the set-based
matching and discrepancy detection the daily task runs). Reported: the time, lines per second and
the discrepancies found, against a floor measured in the same run (before and after): one bare
UPDATE ... FROM that links every line to its entry by gateway transaction id (a hash join and
nothing else), rolled back.

admin: the payment list (plain, filtered, searched), a payment's page, the discrepancy queue and
the finance dashboard, each requested 30 times in-process by a finance viewer, first with the
small table and then with N payments: p50/p95 page time and the number of SQL queries per page
(which must not grow with the table). Baseline: the admin index page in the same run. The
dashboard's daily totals are brought up to date first, as the hourly beat task does.

Set-up shortcut, stated plainly: the payments, entries, postings and lines are inserted with
generate_series SQL (through the ledger's own balance trigger), because a million purchases
through the API would take hours; the matching under test is the production code path.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

# The bench merchant has several gateway accounts: each lookup names the Authorize.Net one by the
# public id run.py's set-up printed (BENCH_GATEWAY_ACCOUNT, in the environment manage.py runs with).
SEED = r"""
import json, os, time
from django.db import connection, transaction
from django.utils import timezone
from apps.audit.actors import Actor
from apps.gateways.models import GatewayAccount
from apps.ledger.services import _accounts, ledger_post_many
from apps.reconciliation.models import SettlementBatch
from apps.reconciliation.services import _settlement_entries
count, start, with_lines = %d, %d, %s
account = GatewayAccount.objects.get(public_id=os.environ["BENCH_GATEWAY_ACCOUNT"], gateway="authorizenet")
ga, merchant = account.pk, account.merchant_id
started = time.perf_counter()
with transaction.atomic():
    ids = _accounts([(ga, "receivable", "USD"), (ga, "sales", "USD")])
    receivable, sales = ids[(ga, "receivable", "USD")], ids[(ga, "sales", "USD")]
    with connection.cursor() as cursor:
        cursor.execute('''
            INSERT INTO payments_payment (public_id, merchant_id, gateway_account_id, status, livemode, currency,
                amount, amount_authorized, amount_captured, amount_refunded, amount_refund_pending, capture,
                reference, description, metadata, card_brand, card_last4, gateway_transaction_id,
                gateway_order_id, failure_code, failure_message, operation, created_at, updated_at,
                payment_method_type, bank_routing_last4, bank_account_type, bank_account_holder, authentication,
                action_url, return_url, risk, review, capture_on_approval, review_note)
            SELECT 'pay_bench' || n, %%(merchant)s, %%(ga)s,
                   CASE WHEN mod(n, 50) = 0 THEN 'failed' ELSE 'captured' END, false, 'USD',
                   1000 + mod(n, 9000), CASE WHEN mod(n, 50) = 0 THEN 0 ELSE 1000 + mod(n, 9000) END,
                   CASE WHEN mod(n, 50) = 0 THEN 0 ELSE 1000 + mod(n, 9000) END, 0, 0, true,
                   'order-' || n, '', '{}'::jsonb, 'visa', lpad((mod(n, 10000))::text, 4, '0'), 'bt' || n,
                   '', CASE WHEN mod(n, 50) = 0 THEN 'card_declined' ELSE '' END, '', '',
                   now() - (mod(n, 7000)) * interval '1 minute', now() - (mod(n, 7000)) * interval '1 minute',
                   'card', '', '', '', '', '', '', '{}'::jsonb, '', false, ''
            FROM generate_series(%%(first)s::bigint, %%(last)s::bigint) AS n''', {"merchant": merchant, "ga": ga, "first": start, "last": start + count - 1})
        cursor.execute('''
            INSERT INTO ledger_journalentry (public_id, gateway_account_id, kind, currency, amount, payment_id,
                gateway_transaction_id, source, memo, occurred_at, created_at)
            SELECT 'je_bench' || p.id, p.gateway_account_id, 'capture', 'USD', p.amount_captured, p.id,
                   p.gateway_transaction_id, '', 'bench', p.created_at, now()
            FROM payments_payment p
            WHERE starts_with(p.public_id, 'pay_bench') AND p.amount_captured > 0 AND NOT EXISTS (
                SELECT 1 FROM ledger_journalentry e WHERE e.payment_id = p.id)''')
        cursor.execute('''
            INSERT INTO ledger_posting (entry_id, account_id, amount)
            SELECT e.id, v.account, v.sign * e.amount
            FROM ledger_journalentry e
            CROSS JOIN (VALUES (%%(receivable)s, 1), (%%(sales)s, -1)) AS v(account, sign)
            WHERE e.memo = 'bench' AND NOT EXISTS (SELECT 1 FROM ledger_posting x WHERE x.entry_id = e.id)''',
            {"receivable": receivable, "sales": sales})
seeded = time.perf_counter() - started
lines = 0
if with_lines:
    started = time.perf_counter()
    now = timezone.now()
    with transaction.atomic():
        batches = [SettlementBatch.objects.create(gateway_account=account, gateway_batch_id=f"bench-{start}-{k}",
                   settled_at=now, currency="USD") for k in range(10)]
        with connection.cursor() as cursor:
            cursor.execute('''
                INSERT INTO reconciliation_settlementline (batch_id, gateway_account_id, gateway_transaction_id,
                    kind, gateway_status, amount, currency, fee, tax, reference, parent_transaction_id,
                    occurred_at, match_status, matched_by)
                SELECT b.id, %%(ga)s, p.gateway_transaction_id, 'charge', 'settledSuccessfully',
                       CASE WHEN mod(p.id, 1000) = 3 THEN p.amount_captured - 100 ELSE p.amount_captured END, 'USD',
                       0, 0, '', '', p.created_at, 'unmatched', ''
                FROM payments_payment p
                JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS k FROM reconciliation_settlementbatch
                      WHERE starts_with(gateway_batch_id, %%(prefix)s)) b ON b.k = mod(p.id, 10)
                WHERE starts_with(p.public_id, 'pay_bench') AND p.amount_captured > 0 AND mod(p.id, 1000) <> 7''',
                {"ga": ga, "prefix": f"bench-{start}-"})
            lines = cursor.rowcount
            cursor.execute('''
                INSERT INTO reconciliation_settlementline (batch_id, gateway_account_id, gateway_transaction_id,
                    kind, gateway_status, amount, currency, fee, tax, reference, parent_transaction_id,
                    occurred_at, match_status, matched_by)
                SELECT %%(batch)s, %%(ga)s, 'unknown' || n, 'charge', 'settledSuccessfully', 4200, 'USD', 0, 0, '',
                       '', now(), 'unmatched', ''
                FROM generate_series(1::bigint, %%(unknown)s::bigint) AS n''', {"batch": batches[0].pk, "ga": ga, "unknown": max(1, count // 1000)})
            lines += cursor.rowcount
            cursor.execute('''
                UPDATE reconciliation_settlementbatch b SET line_count = t.n, charges_amount = t.total, payout_amount = t.total
                FROM (SELECT batch_id, count(*) AS n, sum(amount) AS total FROM reconciliation_settlementline
                      GROUP BY batch_id) t
                WHERE t.batch_id = b.id AND starts_with(b.gateway_batch_id, %%(prefix)s)''', {"prefix": f"bench-{start}-"})
        for batch in batches:
            batch.refresh_from_db()
            ledger_post_many(_settlement_entries(account, batch, 0))
print("BENCH_SEED=" + json.dumps({"seconds": round(seeded, 1), "lines": lines}))
"""

# Autocommit, outside any transaction: statistics for the planner after the bulk inserts.
ANALYZE = """
from django.db import connection
from apps.reports.services import daily_totals_catch_up
daily_totals_catch_up(recent_days=3)  # what the hourly beat task does
with connection.cursor() as cursor:
    for table in ("payments_payment", "ledger_journalentry", "ledger_posting", "reconciliation_settlementline",
                  "reconciliation_settlementbatch", "reconciliation_discrepancy"):
        cursor.execute(f"ANALYZE {table}")
"""

MATCH = r"""
import json, os, time
from django.db import connection, transaction
from apps.audit.actors import Actor
from apps.gateways.models import GatewayAccount
from apps.reconciliation.models import Discrepancy, SettlementLine
from apps.reconciliation.services import reconcile
account = GatewayAccount.objects.get(public_id=os.environ["BENCH_GATEWAY_ACCOUNT"], gateway="authorizenet")
lines = SettlementLine.objects.filter(gateway_account=account, match_status="unmatched").count()
# The floor links every line of the account (rolled back), before and after the real run.

def floor():
    started = time.perf_counter()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute('''
                UPDATE reconciliation_settlementline l SET entry_id = e.id
                FROM ledger_journalentry e
                WHERE l.gateway_account_id = %s
                  AND e.gateway_account_id = l.gateway_account_id AND e.kind = 'capture'
                  AND e.gateway_transaction_id = l.gateway_transaction_id''', [account.pk])
            linked = cursor.rowcount
        transaction.set_rollback(True)
    return time.perf_counter() - started, linked

floor_before = floor()
started = time.perf_counter()
report = reconcile(account=account, day=None, actor=Actor.system("bench"), fetch=False)
seconds = time.perf_counter() - started
floor_after = floor()
print("BENCH_MATCH=" + json.dumps({
    "lines": lines, "seconds": round(seconds, 2), "matched": report.matched, "opened": report.opened,
    "floor_seconds": [round(floor_before[0], 2), round(floor_after[0], 2)], "floor_linked": floor_before[1]}))
"""

ADMIN = r"""
import json, time, statistics
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from apps.accounts.roles import FINANCE_VIEWER
from django.contrib.auth.models import Group, User
from apps.payments.models import Payment
from apps.reconciliation.models import Discrepancy
label, rounds = %r, %d
user, _ = User.objects.get_or_create(username="bench-viewer", defaults={"is_staff": True})
user.groups.add(Group.objects.get(name=FINANCE_VIEWER))
client = Client(HTTP_HOST="127.0.0.1")
client.force_login(user)
payment = Payment.objects.order_by("-id").first()
pages = {
    "index (baseline)": "/admin/",
    "payment list": "/admin/payments/payment/",
    "payment list, status filter": "/admin/payments/payment/?status__exact=failed",
    "payment list, search by id": f"/admin/payments/payment/?q={payment.public_id}",
    "payment page": f"/admin/payments/payment/{payment.pk}/change/",
    "discrepancy queue": "/admin/reconciliation/discrepancy/",
    "dashboard": "/admin/dashboard/",
}
results = {}
for name, url in pages.items():
    client.get(url)  # warm
    times, queries = [], []
    for _ in range(rounds):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
        queries.append(len(captured.captured_queries))
    times.sort()
    results[name] = {"p50_ms": round(statistics.median(times), 1), "p95_ms": round(times[int(0.95 * (len(times) - 1))], 1),
                     "queries": max(queries)}
print("BENCH_ADMIN=" + json.dumps({"label": label, "payments": Payment.objects.count(), "pages": results}))
"""


def _value(output: str, name: str) -> Any:
    line = next(line for line in output.splitlines() if line.startswith(name + "="))
    return json.loads(line.split("=", 1)[1])


def run_recon(
    *,
    env: dict[str, str],
    manage: Callable[..., str],
    log: Callable[[str], None],
    count: int,
    small: int,
    admin_rounds: int,
    with_recon: bool,
    with_admin: bool,
    results: dict[str, Any] | None = None,
    attempt: Callable[[str, Callable[[], Any]], Any] | None = None,
) -> dict[str, Any]:
    """Fills `results` as it goes. The seeds are what the rest stands on (a failing seed fails the
    whole step); each measurement runs through `attempt` (run.py's: a failure is logged, the
    results so far are saved, and the next measurement runs)."""
    results = results if results is not None else {}
    results["count"] = count

    def measured(step: str, action: Callable[[], Any]) -> Any:
        return attempt(step, action) if attempt is not None else action()

    def admin(label: str, payments: int) -> None:
        log(f"admin: {admin_rounds} rounds per page with {payments} payments")
        results[f"admin_{label}"] = _value(manage(env, "shell", "-c", ADMIN % (label, admin_rounds)), "BENCH_ADMIN")

    def match() -> None:
        log(f"recon: matching {results['seed']['lines']} lines")
        results["match"] = _value(manage(env, "shell", "-c", MATCH), "BENCH_MATCH")
        manage(env, "shell", "-c", ANALYZE)

    log(f"recon/admin: seeding {small} payments with their ledger entries")
    results["seed_small"] = _value(manage(env, "shell", "-c", SEED % (small, 1, "False")), "BENCH_SEED")
    manage(env, "shell", "-c", ANALYZE)
    if with_admin:
        measured("admin (small table)", lambda: admin("small", small))
    log(f"recon/admin: seeding up to {count} payments, entries, postings and {count} settlement lines")
    results["seed"] = _value(manage(env, "shell", "-c", SEED % (count - small, small + 1, "True")), "BENCH_SEED")
    manage(env, "shell", "-c", ANALYZE)
    if with_recon:
        measured("recon", match)
    if with_admin:
        measured("admin (large table)", lambda: admin("large", count))
    return results


def print_recon(results: dict[str, Any]) -> None:
    match = results.get("match")
    if match:
        floor = sum(match["floor_seconds"]) / len(match["floor_seconds"])
        print(f"Reconciliation: {match['lines']:,} settlement lines against {results['count']:,} payments")
        print(
            f"  reconcile (link, classify, discrepancies): {match['seconds']:.1f}s = {match['lines'] / match['seconds']:,.0f} "
            f"lines/s; {match['matched']:,} matched, discrepancies {match['opened']}"
        )
        print(
            f"  floor: one bare UPDATE ... FROM linking lines to entries, {match['floor_seconds']}s "
            f"(mean {floor:.1f}s); reconcile is {match['seconds'] / floor:.1f}x the floor; target < 60s"
        )
    if "admin_small" in results and "admin_large" not in results:
        small = results["admin_small"]
        print(f"Back office pages: {small['payments']:,} payments only (finance viewer, in-process)")
        for name, page in small["pages"].items():
            print(
                f"  {name:<30} p50 {page['p50_ms']:>7.1f} ms  p95 {page['p95_ms']:>7.1f} ms  queries {page['queries']}"
            )
    if "admin_small" in results and "admin_large" in results:
        small, large = results["admin_small"], results["admin_large"]
        print(
            f"Back office pages: {small['payments']:,} then {large['payments']:,} payments (finance viewer, in-process)"
        )
        base_small = small["pages"]["index (baseline)"]["p95_ms"]
        base_large = large["pages"]["index (baseline)"]["p95_ms"]
        for name in small["pages"]:
            a, b = small["pages"][name], large["pages"][name]
            print(
                f"  {name:<30} p50 {a['p50_ms']:>7.1f} -> {b['p50_ms']:>7.1f} ms  p95 {a['p95_ms']:>7.1f} -> "
                f"{b['p95_ms']:>7.1f} ms ({b['p95_ms'] / base_large:.1f}x index)  queries {a['queries']} -> {b['queries']}"
            )
        print(f"  baseline index p95: {base_small:.1f} ms -> {base_large:.1f} ms")
    print()
