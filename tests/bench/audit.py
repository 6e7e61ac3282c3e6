"""Audited writes under concurrency, run by `make bench` (tests/bench/run.py, scenario `audit`).

16 writer processes (each its own database connection and no GIL between them, started together)
each commit one transaction after another for a fixed time:

- `off`: the floor. The same audit row, built by the same Python (apps.audit.services._fields),
  inserted with a plain INSERT into the writer's chain (so into the same place of the indexes): no
  lock, no head read, no hash in SQL. What one audited row costs without its chain. (Its rows break
  the chains of the bench database, which is thrown away.)
- `chains`: `audit_record` as the application calls it, each writer for a merchant of its own
  (AUDIT_CHAINS at its default): the chain lock, the head read, the hash, the insert. The
  merchants' ids are consecutive, so no two writers share a chain: the best case. Random merchants
  would share chains now and then (16 of 64 chains: a collision in most seconds), each collision
  serialising two writers as before.
- `one_chain`: the same with AUDIT_CHAINS=1: every writer appends to one chain under one lock,
  which is what every audited write did before issue 23 (the issue measured about 0.25 of off).

Reported: transactions per second of each, and each as a ratio to `off` (issue 23's target for
`chains`: at least 0.8). Each variant runs twice, alternating, and the mean is reported.
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

SETUP = r"""
import json
from apps.merchants.models import Merchant
writers = %d
ids = list(Merchant.objects.order_by("id").values_list("id", flat=True)[:writers])
while len(ids) < writers:
    n = len(ids)
    ids.append(Merchant.objects.create(name=f"Audit bench {n}", slug=f"audit-bench-{n}").pk)
print("BENCH_AUDIT=" + json.dumps(ids))
"""

# One writer process (16 run at once, started together at `start_at`, a Unix time).
WRITER = r"""
import json, time, uuid
from django.conf import settings
from django.db import connection, transaction
from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from apps.audit.services import _fields, audit_record, chain_for

variant, seconds, merchant_id, start_at = %r, %f, %d, %f
actor = Actor.system("bench")
by_attname = {f.attname: f for f in AuditEvent._meta.concrete_fields}
if variant == "one_chain":
    settings.AUDIT_CHAINS = 1

def plain_insert():
    fields = _fields(actor=actor, action="bench.audited", target=None, merchant_id=merchant_id, before=None, after={"n": 1})
    event = AuditEvent(**fields)
    values = [by_attname[n].get_db_prep_save(getattr(event, n), connection) for n in fields]
    column_sql = ", ".join(connection.ops.quote_name(by_attname[n].column) for n in fields)
    marks = ", ".join(["%%s"] * len(fields))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO audit_auditevent ({column_sql}, chain, prev_hash, hash) VALUES ({marks}, %%s, %%s, %%s)",
            [*values, chain_for(merchant_id), "0" * 64, uuid.uuid4().hex + uuid.uuid4().hex],
        )

connection.ensure_connection()
while time.time() < start_at:
    time.sleep(0.001)
done, deadline = 0, start_at + seconds
while time.time() < deadline:
    with transaction.atomic():
        if variant == "off":
            plain_insert()
        else:
            audit_record(actor=actor, action="bench.audited", merchant_id=merchant_id, after={"n": 1})
    done += 1
print("BENCH_AUDIT=" + json.dumps(done))
"""

VARIANTS = ("off", "chains", "one_chain")
TARGET = 0.8


def _value(output: str) -> Any:
    line = next(line for line in output.splitlines() if line.startswith("BENCH_AUDIT="))
    return json.loads(line.split("=", 1)[1])


def _writers(env: dict[str, str], variant: str, seconds: float, merchants: list[int]) -> float:
    """Start one writer process per merchant, all beginning at the same moment; transactions/s."""
    start_at = time.time() + 25.0  # time enough for 16 processes to start Django on 2 cores
    writer_env = {**env, "DB_POOL": "false"}
    processes = [
        subprocess.Popen(
            [str(BIN / "python"), "manage.py", "shell", "-c", WRITER % (variant, seconds, merchant, start_at)],
            cwd=ROOT,
            env=writer_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for merchant in merchants
    ]
    outputs = [process.communicate(timeout=seconds + 120) for process in processes]
    failed = [err for process, (_, err) in zip(processes, outputs, strict=True) if process.returncode != 0]
    if failed:
        raise RuntimeError(f"{len(failed)} audit writer(s) failed:\n{failed[0][-3000:]}")
    return sum(_value(out) for out, _ in outputs) / seconds


def run_audit(
    *,
    env: dict[str, str],
    manage: Callable[..., str],
    log: Callable[[str], None],
    seconds: float,
    writers: int = 16,
    results: dict[str, Any],
) -> dict[str, Any]:
    """Fills `results` as it goes: {variant: [tps, tps]}, then ratios to `off`."""
    results.update({"writers": writers, "seconds": seconds, "tps": {}})
    merchants = _value(manage(env, "shell", "-c", SETUP % writers))
    for round_ in range(2):
        for variant in VARIANTS:
            log(f"audit: {variant}, {writers} writers for {seconds:.0f}s (round {round_ + 1})")
            results["tps"].setdefault(variant, []).append(round(_writers(env, variant, seconds, merchants), 1))
    mean = {variant: sum(values) / len(values) for variant, values in results["tps"].items()}
    results["mean"] = mean
    results["ratio"] = {variant: mean[variant] / mean["off"] for variant in VARIANTS if variant != "off"}
    return results


def print_audit(results: dict[str, Any]) -> None:
    mean, ratio = results.get("mean"), results.get("ratio")
    if not mean or not ratio:
        return
    print(f"Audited writes: {results['writers']} writer processes, {results['seconds']:.0f}s each, twice")
    print(f"  off (the same row, plain INSERT, no chain): {mean['off']:,.0f} tx/s  {results['tps']['off']}")
    print(
        f"  chains (audit_record, a merchant per writer): {mean['chains']:,.0f} tx/s = {ratio['chains']:.2f}x off "
        f"(target >= {TARGET})  {results['tps']['chains']}"
    )
    print(
        f"  one chain (AUDIT_CHAINS=1, as before issue 23): {mean['one_chain']:,.0f} tx/s = "
        f"{ratio['one_chain']:.2f}x off  {results['tps']['one_chain']}"
    )
