"""Ctrl-C on `make run`: honcho (config/dev_processes.py) stops the quickstart's worker, as
config/Procfile.dev starts it on the filesystem broker, without SIGKILL and without cutting short
the task it is running."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from celery import Celery
from kombu import Connection

from config.settings.base import celery_broker_settings
from tests.core.dev_tasks import SLOW_TASK

ROOT = Path(__file__).resolve().parents[2]


def worker_line(queue: str) -> str:
    """The Procfile's worker, consuming only this test's queue (the developer's own worker, if one
    runs, shares the broker folder under var/ and must not see this test's task)."""
    line = next(
        line for line in (ROOT / "config" / "Procfile.dev").read_text().splitlines() if line.startswith("worker:")
    )
    line = re.sub(r"--queues \S+", f"--queues {queue}", line)
    return f"{line} --hostname {queue}@%h --include tests.core.dev_tasks"


def forget(queue: str, output: str) -> None:
    """Remove what the test's worker left in the broker folder: its queue's exchange and its
    binding to the remote-control exchange every worker shares."""
    url, options = celery_broker_settings("")
    control = Path(options["control_folder"])
    (control / f"{queue}.exchange").unlink(missing_ok=True)
    if node := re.search(rf"({re.escape(queue)}@\S+) ready\.", output):
        with Connection(url, transport_options=options) as connection:
            connection.default_channel._delete(f"{node.group(1)}.celery.pidbox", "celery.pidbox", "", "")


def wait_for(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.mark.slow
def test_ctrl_c_lets_the_running_task_finish_and_stops_the_worker_without_sigkill(tmp_path, monkeypatch):
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)  # the quickstart's broker: the filesystem
    queue = f"stop-test-{uuid.uuid4().hex[:10]}"
    (tmp_path / "Procfile").write_text(f"{worker_line(queue)}\n")
    scrubbed = ("REDIS_URL", "CELERY_BROKER_URL", "DATABASE_URL", "LOG_FILE")
    env = {key: value for key, value in os.environ.items() if key not in scrubbed}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.dev",
        DJANGO_READ_DOT_ENV_FILE="false",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        VENV_BIN=str(Path(sys.executable).parent),
    )
    manager = subprocess.Popen(
        [sys.executable, "-P", "config/dev_processes.py", "--procfile", str(tmp_path / "Procfile"),
         "--app-root", str(ROOT), "--env", "/dev/null", "start"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(manager.stdout), daemon=True)
    reader.start()
    try:
        wait_for(lambda: any(" ready." in line for line in output), timeout=60)
        url, options = celery_broker_settings("")
        Celery(broker=url, broker_transport_options=options).send_task(
            SLOW_TASK, args=[str(tmp_path), 4.0], queue=queue
        )
        wait_for((tmp_path / "started").exists, timeout=30)

        os.killpg(manager.pid, signal.SIGINT)  # Ctrl-C: the terminal signals honcho's process group
        manager.wait(timeout=40)
        reader.join(timeout=5)
    finally:
        if manager.poll() is None:
            os.killpg(manager.pid, signal.SIGKILL)
        forget(queue, "".join(output))
    text = "".join(output)

    assert (tmp_path / "finished").exists(), text
    assert "SIGKILL" not in text
    assert re.search(r"worker\.1 stopped \(rc=0\)", text), text
