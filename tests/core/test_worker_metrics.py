"""Worker and beat hosts serve /metrics themselves (apps/core/worker_metrics.py): the server under
the web view's access rule, then a real prefork worker whose child runs the heartbeat and whose
main process serves it, and a real beat."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from django.conf import settings as django_settings
from django.db import connection
from prometheus_client.parser import text_string_to_metric_families

from apps.core.tasks import worker_heartbeat
from apps.core.worker_metrics import _Serving, on_celery_process_start, peer_ip, worker_metrics_serve
from tests.brokers import broker_purge
from tests.core.test_beat import Beats
from tests.core.test_monitoring import alert_expressions, metrics_in

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "worker-metrics-test-token"
HEARTBEAT_TASK = "apps.core.tasks.worker_heartbeat"
# What the worker alerts read (docker/prometheus/alerts.yml) must come from the worker hosts.
WORKER_ALERTS = [
    "ClearhouseWorkerHeartbeatStale",
    "ClearhouseWorkerHeartbeatMissing",
    "ClearhouseCeleryTaskFailures",
    "ClearhouseTaskNearTimeLimit",
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def get_metrics(port: int, authorization: str | None = None, path: str = "/metrics") -> requests.Response:
    headers = {"Authorization": authorization} if authorization else {}
    return requests.get(f"http://127.0.0.1:{port}{path}", headers=headers, timeout=5)


def wait_for_metrics(process: subprocess.Popen[bytes], port: int, until: str, log: Path) -> str:
    """The authorized body once it contains `until` (the process may still be starting)."""
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, f"{until} never served:\n{log.read_text()}"
        try:
            response = get_metrics(port, f"Bearer {TOKEN}")
        except requests.ConnectionError:  # not listening yet
            response = None
        if response is not None and response.status_code == 200 and until in response.text:
            return response.text
        time.sleep(0.2)


def families(body: str) -> dict[str, float]:
    """Each family name, with its largest sample value."""
    return {
        family.name: max((sample.value for sample in family.samples), default=0.0)
        for family in text_string_to_metric_families(body)
    }


@pytest.fixture
def served() -> Iterator[int]:
    server = worker_metrics_serve(address="127.0.0.1", port=0)
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_the_token_opens_metrics_and_anything_else_is_not_found(served, settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_IPS = []

    response = get_metrics(served, f"Bearer {TOKEN}")

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    assert "clearhouse_celery_tasks" in families(response.text)  # the parser drops a counter's _total
    for refused in [None, "Bearer wrong", f"Basic {TOKEN}", TOKEN, f"Bearer {TOKEN}x"]:
        assert get_metrics(served, refused).status_code == 404, refused
        assert get_metrics(served, refused).content == b""
    assert get_metrics(served, f"Bearer {TOKEN}", path="/other").status_code == 404


def test_an_allowed_address_opens_metrics_and_forwarded_addresses_are_not_trusted(served, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8"]
    spoofed = requests.get(f"http://127.0.0.1:{served}/metrics", headers={"X-Forwarded-For": "10.0.0.1"}, timeout=5)
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    spoofed_behind_proxy = requests.get(
        f"http://127.0.0.1:{served}/metrics", headers={"X-Forwarded-For": "10.0.0.1"}, timeout=5
    )

    assert spoofed.status_code == spoofed_behind_proxy.status_code == 404
    assert get_metrics(served, "Bearer ").status_code == 404  # no token configured: none matches
    settings.METRICS_ALLOWED_IPS = ["127.0.0.1/32"]
    assert get_metrics(served).status_code == 200


@pytest.mark.parametrize(
    ("peer", "compared"),
    [("127.0.0.1", "127.0.0.1"), ("::ffff:10.1.2.3", "10.1.2.3"), ("::1", "::1"), ("2001:db8:0::1", "2001:db8::1")],
)
def test_the_peer_is_compared_as_the_address_it_is(peer, compared):
    assert peer_ip(peer) == compared


def test_nothing_is_served_unless_the_port_is_set(settings):
    settings.WORKER_METRICS_PORT = None

    on_celery_process_start()

    assert _Serving.server is None


def test_a_process_serves_once_so_beat_embedded_in_a_worker_finds_the_port_taken_by_itself(settings):
    settings.WORKER_METRICS_PORT = free_port()
    settings.WORKER_METRICS_ADDRESS = "127.0.0.1"
    settings.METRICS_TOKEN = TOKEN
    try:
        on_celery_process_start()  # worker_init
        server = _Serving.server
        on_celery_process_start()  # beat_init of `worker -B`: binding again would raise

        assert server is not None and _Serving.server is server
        assert get_metrics(settings.WORKER_METRICS_PORT, f"Bearer {TOKEN}").status_code == 200
    finally:
        if _Serving.server is not None:
            _Serving.server.shutdown()
            _Serving.server.server_close()
        _Serving.server = None


@pytest.mark.slow
@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
def test_a_prefork_workers_main_process_serves_what_its_children_record(tmp_path):
    port = free_port()
    multiproc_dir = tmp_path / "prometheus"
    multiproc_dir.mkdir()
    env = {
        **{name: value for name, value in os.environ.items() if name != "METRICS_ALLOWED_IPS"},
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "REDIS_URL": django_settings.REDIS_URL,
        "TEST_CELERY_BROKER_URL": django_settings.CELERY_BROKER_URL,
        "DATABASE_URL": "postgres://{USER}@{HOST}:{PORT}/{NAME}".format(**connection.settings_dict),
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc_dir),
        "WORKER_METRICS_PORT": str(port),
        "WORKER_METRICS_ADDRESS": "127.0.0.1",
        "METRICS_TOKEN": TOKEN,
    }
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "prefork", "--concurrency", "1",
               "--queues", "default", "--without-mingle", "--without-gossip", "--loglevel", "INFO"]  # fmt: skip
    log = tmp_path / "worker.log"
    broker_purge()
    with log.open("wb") as output:
        worker = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    try:
        # Serving before any task ran (a multiprocess body is empty until some process records a sample).
        wait_for_metrics(worker, port, "", log)
        before = time.time()
        worker_heartbeat.delay()
        body = wait_for_metrics(worker, port, f'state="success",task="{HEARTBEAT_TASK}"', log)
        anonymous = get_metrics(port)
        wrong = get_metrics(port, "Bearer wrong")
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)

    served = families(body)
    # The heartbeat ran in the prefork child: the main process read it from the shared directory.
    assert served["clearhouse_worker_last_heartbeat_timestamp_seconds"] >= before
    assert served["clearhouse_celery_task_duration_seconds"] > 0
    alerted = {name for alert in WORKER_ALERTS for name in metrics_in(alert_expressions()[alert])}
    assert {name.removesuffix("_bucket").removesuffix("_total") for name in alerted} <= set(served)
    assert anonymous.status_code == wrong.status_code == 404


@pytest.fixture
def beats(tmp_path: Path) -> Iterator[Beats]:
    started = Beats(tmp_path)
    try:
        yield started
    finally:
        started.stop()


@pytest.mark.slow
def test_beat_serves_the_tasks_it_sends(beats):
    port = free_port()
    beats.env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # beat is one process: its own registry
    beats.env.pop("METRICS_ALLOWED_IPS", None)
    beats.env |= {"WORKER_METRICS_PORT": str(port), "WORKER_METRICS_ADDRESS": "127.0.0.1", "METRICS_TOKEN": TOKEN}
    beat = beats.start()

    beats.wait_for_sent(1, timeout=30)
    body = wait_for_metrics(beat, port, 'clearhouse_celery_tasks_published_total{task="tests.core.beat_app.tick"}',
                            beats.tmp_path / "beat-0.log")  # fmt: skip

    assert families(body)["clearhouse_celery_tasks_published"] >= 1
    assert get_metrics(port).status_code == 404
    assert get_metrics(port, "Bearer wrong").status_code == 404
