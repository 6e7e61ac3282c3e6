"""Webhook ingest at 1x and 2x worker processes, run by `make bench` (tests/bench/run.py, scenario
`ingest`; with `--billing-workers 1 2`, the billing scenario is the other half of issue 23's scale run).

For each worker count and each size: that many Celery worker processes (one process each,
concurrency 1, as the billing scenario runs them) are started and given time to connect; then that
many signed Authorize.Net notifications about payments we hold (a prior-auth capture each, so
processing moves the payment and writes its ledger entry, audit row and event) are posted to the
app's webhook endpoint, 8 at a time, faster than the workers process them, so a backlog builds.
Timed: from the first notification received to the last one processed (from the database).
Reported: that time and notifications per second for each worker count and size, and how they grow.
"""

from __future__ import annotations

import concurrent.futures
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _start_worker(env: dict[str, str], name: str) -> subprocess.Popen[bytes]:
    command = [str(BIN / "celery"), "-A", "config", "worker", "--loglevel", "WARNING", "--concurrency", "1",
               "--queues", "default,webhooks,deliveries", "--hostname", f"{name}@%h", "--without-mingle",
               "--without-gossip"]  # fmt: skip
    return subprocess.Popen(command, cwd=ROOT, env={**env, "DB_POOL": "false"}, start_new_session=True)


def _post_all(url: str, path: Path) -> int:
    """Post every notification of the file (8 at a time); returns how many were accepted."""
    lines = path.read_bytes().splitlines()
    session = requests.Session()

    def post(line: bytes) -> bool:
        signature, body = line.split(b"\t", 1)
        response = session.post(
            url,
            data=body,
            headers={"Content-Type": "application/json", "X-ANET-Signature": signature.decode()},
            timeout=30,
        )
        return response.status_code == 200

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        return sum(pool.map(post, lines))


def _drain(database_url: str, since: float, timeout: float = 3600.0) -> dict[str, Any]:
    import psycopg

    deadline = time.monotonic() + timeout
    query = (
        "SELECT count(*) FILTER (WHERE status IN ('received', 'failed')), count(*) FILTER (WHERE status = 'processed'), "
        "extract(epoch FROM max(processed_at) - min(received_at)) "
        "FROM webhooks_incomingwebhook WHERE received_at >= to_timestamp(%s)"
    )
    with psycopg.connect(database_url, autocommit=True) as connection:
        while True:
            row = connection.execute(query, (since,)).fetchone()
            assert row is not None
            open_, processed, span = row
            if not open_ or time.monotonic() > deadline:
                return {"processed": processed, "open": open_, "seconds": float(span or 0)}
            time.sleep(1)


def run_ingest(
    *,
    env: dict[str, str],
    manage: Callable[..., str],
    stop: Callable[[subprocess.Popen[bytes]], None],
    log: Callable[[str], None],
    database_url: str,
    app_url: str,
    setup_snippet: str,
    clear_backlog: Callable[[], None],
    counts: list[int],
    worker_counts: list[int],
    out_dir: Path,
    results: dict[str, Any],
    on_step: Callable[[], None],
) -> dict[str, Any]:
    results.setdefault("runs", [])
    url = f"{app_url}/webhooks/authorizenet/{env['BENCH_GATEWAY_ACCOUNT']}"
    for workers in worker_counts:
        for count in counts:
            clear_backlog()
            path = out_dir / f"ingest-{workers}-{count}.tsv"
            log(f"ingest: {count} payments and their signed notifications")
            manage(env, "shell", "-c", setup_snippet % (count, str(path)))
            procs = [_start_worker(env, f"ingest{n}") for n in range(workers)]
            try:
                time.sleep(8)  # the workers start and connect before the first notification
                log(f"ingest: posting {count} notifications to {workers} worker process(es)")
                since = time.time()
                accepted = _post_all(url, path)
                drained = _drain(database_url, since)
            finally:
                for proc in procs:
                    stop(proc)
            seconds = drained["seconds"]
            run = {
                "workers": workers,
                "count": count,
                "accepted": accepted,
                "processed": drained["processed"],
                "unfinished": drained["open"],
                "seconds": round(seconds, 1),
                "per_s": round(drained["processed"] / seconds, 1) if seconds > 0 else 0.0,
            }
            results["runs"].append(run)
            on_step()
    return results


def print_ingest(results: dict[str, Any]) -> None:
    runs = results.get("runs") or []
    if not runs:
        return
    print("Webhook ingest: a backlog of accepted notifications drained by N worker processes (one process each)")
    first_by_workers: dict[int, dict[str, Any]] = {}
    single = {run["count"]: run for run in runs if run["workers"] == 1}
    for run in runs:
        first = first_by_workers.setdefault(run["workers"], run)
        versus_one = single.get(run["count"])
        speedup = (
            f"; x{run['per_s'] / versus_one['per_s']:.2f} the rate of 1 worker"
            if versus_one and run["workers"] != 1
            else ""
        )
        print(
            f"  {run['workers']} worker(s), {run['count']:>6} notifications: {run['processed']} processed in "
            f"{run['seconds']:.1f}s = {run['per_s']:.1f}/s; time x{run['seconds'] / first['seconds']:.2f} for "
            f"count x{run['count'] / first['count']:.2f}{speedup}"
            + (f"; {run['unfinished']} NOT processed" if run["unfinished"] else "")
        )
    print()
