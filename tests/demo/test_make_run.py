"""The README's first command from a fresh clone: `make run` migrates, seeds the demo, serves the
front page, and stops on Ctrl-C without SIGKILL, leaving nothing untracked in the clone (the
quickstart's database, broker folders and schedule all live under the ignored var/)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv"

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def page(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - a local http URL
            return str(response.read().decode())
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def test_make_run_from_a_fresh_clone_serves_the_demo_and_stops_cleanly(tmp_path):
    if not (ROOT / ".git").exists() or not (VENV / "bin" / "python").exists():
        pytest.skip("needs the repository and its virtualenv (make test makes it)")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    # The project's virtualenv stands in for the one `make run` would install: its stamp is newer.
    os.utime(clone / "requirements" / "dev.txt", (0, 0))
    port = free_port()
    log = tmp_path / "make-run.log"
    # Nothing of the test's environment (its database, Redis, settings): a new user's shell.
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    with log.open("wb") as output:
        make = subprocess.Popen(
            ["make", "run", f"PORT={port}", f"VENV={VENV}"],
            cwd=clone, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 300
            home = None
            while home is None and time.monotonic() < deadline and make.poll() is None:
                time.sleep(1)
                home = page(f"http://127.0.0.1:{port}/")
            assert home is not None, log.read_text()[-3000:]
            assert "/admin/" in home and "/api/docs/" in home
        finally:
            os.killpg(make.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the foreground group
            make.wait(timeout=90)
    printed = log.read_text()
    assert "SIGKILL" not in printed, printed[-3000:]
    for process in ("web", "worker", "beat"):
        assert f"{process}.1 stopped (rc=0)" in printed, printed[-3000:]
    untracked = subprocess.run(
        ["git", "status", "--porcelain"],
        cwd=clone,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert untracked == "", untracked
