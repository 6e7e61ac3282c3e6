"""Two `celery beat` processes at once (two hosts for failover) schedule each periodic task once:
the one holding RedBeat's lock in Redis sends, the other waits, and takes over when the lock of a
leader that died expires, or at once when the leader is stopped. Real beats, real Redis, the project's settings; the schedule is one
entry every second (tests/core/beat_app.py)."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from django.conf import settings as django_settings
from kombu import Queue

from config.celery import app as celery_app
from config.settings.base import celery_beat_settings

ROOT = Path(__file__).resolve().parents[2]
INTERVAL = 1.0
LOCK_SECONDS = 6  # must exceed the settings' CELERY_BEAT_MAX_LOOP_INTERVAL (5)
MAX_LOOP = 1  # a standby tries the lock this often (`--max-interval`)


@pytest.mark.sqlite
def test_the_scheduler_is_redbeat_with_redis_and_celerys_own_without():
    assert celery_beat_settings("redis://r:6379/0") == ("redbeat.RedBeatScheduler", "redis://r:6379/0")
    assert celery_beat_settings("") == ("celery.beat:PersistentScheduler", "")
    # The quickstart (SQLite, the filesystem broker, no Redis) runs one beat, with no lock.
    expected = "redbeat.RedBeatScheduler" if django_settings.REDIS_URL else "celery.beat:PersistentScheduler"
    assert celery_app.conf.beat_scheduler == expected
    assert celery_app.conf.beat_max_loop_interval < django_settings.REDBEAT_LOCK_TIMEOUT


class Beats:
    def __init__(self, tmp_path: Path) -> None:
        run = uuid.uuid4().hex[:10]
        self.queue = f"beat-test-{run}"
        self.record_key = f"beat-test-sent-{run}"
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "REDIS_URL": django_settings.REDIS_URL,
            "TEST_CELERY_BROKER_URL": django_settings.CELERY_BROKER_URL,
            "CACHE_KEY_PREFIX": f"beat-test-{run}",  # this run's own schedule and lock
            "BEAT_LOCK_TIMEOUT_SECONDS": str(LOCK_SECONDS),
            "BEAT_TEST_INTERVAL": str(INTERVAL),
            "BEAT_TEST_QUEUE": self.queue,
            "BEAT_TEST_RECORD_KEY": self.record_key,
        }
        self.tmp_path = tmp_path
        self.redis = redis.Redis.from_url(django_settings.REDIS_URL, decode_responses=True)
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        index = len(self.processes)
        command = [sys.executable, "-m", "celery", "-A", "tests.core.beat_app", "beat", "--loglevel", "INFO",
                   "--max-interval", str(MAX_LOOP), "--schedule", str(self.tmp_path / f"beat-{index}")]  # fmt: skip
        log = (self.tmp_path / f"beat-{index}.log").open("wb")
        process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.processes.append(process)
        return process

    def sent(self) -> list[tuple[float, int]]:
        """(time, pid of the beat) of each tick the broker accepted, in order."""
        rows = [row.split() for row in self.redis.lrange(self.record_key, 0, -1)]
        return [(float(at), int(pid)) for at, pid in rows]

    def wait_for_sent(self, count: int, timeout: float) -> list[tuple[float, int]]:
        deadline = time.monotonic() + timeout
        while len(sent := self.sent()) < count:
            assert time.monotonic() < deadline, f"{len(sent)} ticks sent, expected {count}: {self.logs()}"
            # None crashed (a beat the test stopped or killed ended as told).
            assert all(process.poll() in {None, 0, -signal.SIGKILL} for process in self.processes), self.logs()
            time.sleep(0.1)
        return sent

    def logs(self) -> str:
        return "\n".join(path.read_text() for path in sorted(self.tmp_path.glob("beat-*.log")))

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        prefix = self.env["CACHE_KEY_PREFIX"]
        keys = [self.record_key, *self.redis.scan_iter(f"{prefix}:*")]
        self.redis.delete(*keys)
        with celery_app.connection_for_write() as connection:
            Queue(self.queue).bind(connection.default_channel).delete()


@pytest.fixture
def beats(tmp_path: Path) -> Iterator[Beats]:
    started = Beats(tmp_path)
    try:
        yield started
    finally:
        started.stop()


def assert_each_tick_sent_once(sent: list[tuple[float, int]]) -> None:
    gaps = [later - earlier for (earlier, _), (later, _) in itertools.pairwise(sent)]
    # A tick sent twice shows as two sends milliseconds apart; one beat sends a second apart.
    assert min(gaps) > INTERVAL / 2, gaps


@pytest.mark.slow
@pytest.mark.celery
def test_two_beats_send_each_tick_once_and_the_standby_takes_over_when_the_leader_dies(beats):
    first, second = beats.start(), beats.start()

    sent = beats.wait_for_sent(6, timeout=30)

    leaders = {pid for _, pid in sent}
    assert len(leaders) == 1, sent
    assert_each_tick_sent_once(sent)
    assert beats.logs().count("beat: Acquired lock") == 1

    (leader,) = leaders
    standby = second if leader == first.pid else first
    os.kill(leader, signal.SIGKILL)
    killed_at = time.time()
    before_kill = len(beats.sent())

    after = beats.wait_for_sent(before_kill + 4, timeout=LOCK_SECONDS + 15)[before_kill:]

    # The lock of the dead leader ran out (its last renewal was at most a tick before the kill),
    # and the standby, trying every MAX_LOOP seconds, sent the next tick; alone, once a tick.
    taken_over_at = after[0][0]
    assert {pid for _, pid in after} == {standby.pid}, after
    assert LOCK_SECONDS - MAX_LOOP - 1 < taken_over_at - killed_at < LOCK_SECONDS + MAX_LOOP + 2, (
        taken_over_at - killed_at,
        beats.logs(),
    )
    assert_each_tick_sent_once(beats.sent())
    assert standby.poll() is None


@pytest.mark.slow
def test_a_beat_stopped_with_sigterm_hands_the_lock_over_at_once(beats):
    first = beats.start()
    beats.wait_for_sent(1, timeout=30)
    second = beats.start()
    time.sleep(4)  # the second has started and is waiting for the lock
    assert {pid for _, pid in beats.sent()} == {first.pid}

    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=15) == 0
    stopped_at = time.time()
    before_stop = len(beats.sent())
    after = beats.wait_for_sent(before_stop + 2, timeout=15)[before_stop:]

    assert {pid for _, pid in after} == {second.pid}, after
    assert after[0][0] - stopped_at < MAX_LOOP + 2, beats.logs()  # well before the lock would expire
    assert_each_tick_sent_once(beats.sent())
