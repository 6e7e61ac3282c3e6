"""Velocity counters in a real Redis: windows, amounts, distinct members, expiry, hashed names,
and exact counts under concurrency."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest
import redis
from django.conf import settings as django_settings

from apps.risk.velocity import (
    Figures,
    Observation,
    VelocityUnavailable,
    velocity_check_and_record,
    velocity_check_and_record_windows,
    velocity_figures,
    velocity_observe,
    velocity_record,
)

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


@pytest.fixture
def value() -> str:
    """A counter of its own for each test."""
    return f"test-{uuid.uuid4().hex}"


@pytest.fixture
def redis_db() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(django_settings.REDIS_URL, decode_responses=True)
    yield client
    client.close()


def risk_keys(client: redis.Redis) -> list[str]:
    return sorted(client.scan_iter(match="*:risk:v2:*"))


def test_counts_and_amounts_within_each_window(value):
    velocity_record("card", value, amount=1000, at=T0)
    velocity_record("card", value, amount=250, at=T0 + 10)
    velocity_record("card", value, amount=5, at=T0 + 20)

    last_minute = velocity_figures("card", value, window_seconds=60, at=T0 + 30)
    last_15_seconds = velocity_figures("card", value, window_seconds=15, at=T0 + 30)

    assert last_minute == Figures(count=3, total_amount=1255, distinct_members=0)
    assert last_15_seconds == Figures(count=1, total_amount=5, distinct_members=0)


def test_entries_fall_out_of_the_window(value):
    velocity_record("card", value, amount=100, at=T0)

    just_inside = velocity_figures("card", value, window_seconds=60, at=T0 + 59.999)
    at_the_edge = velocity_figures("card", value, window_seconds=60, at=T0 + 60)
    later = velocity_figures("card", value, window_seconds=60, at=T0 + 3600)

    assert just_inside == Figures(count=1, total_amount=100, distinct_members=0)
    assert at_the_edge == later == Figures(count=0, total_amount=0, distinct_members=0)


def test_events_after_the_moment_asked_about_are_not_counted(value):
    velocity_record("card", value, at=T0)
    velocity_record("card", value, at=T0 + 100)

    figures = velocity_figures("card", value, window_seconds=3600, at=T0 + 50)

    assert figures.count == 1


def test_equal_events_at_the_same_millisecond_are_all_counted(value):
    for _ in range(5):
        velocity_record("card", value, amount=700, at=T0)

    figures = velocity_figures("card", value, window_seconds=60, at=T0)

    assert figures == Figures(count=5, total_amount=3500, distinct_members=0)


def test_events_dimensions_and_values_are_counted_apart(value):
    velocity_record("card", value, at=T0)
    velocity_record("card", value, at=T0, event="decline")
    velocity_record("card", value, at=T0, event="decline")
    velocity_record("email", value, at=T0)

    def count(dimension: str, counted: str, event: str = "attempt") -> int:
        return velocity_figures(dimension, counted, window_seconds=60, at=T0 + 1, event=event).count

    assert count("card", value) == 1
    assert count("card", value, "decline") == 2
    assert count("email", value) == 1
    assert count("ip", value) == 0
    assert count("card", value + "-other") == 0


def test_distinct_members_are_counted_once_per_window(value):
    velocity_record("card", value, at=T0, member="cus_a")
    velocity_record("card", value, at=T0 + 10, member="cus_b")
    velocity_record("card", value, at=T0 + 20, member="cus_a")
    velocity_record("card", value, at=T0 + 25)  # no member: counted, but adds none

    whole = velocity_figures("card", value, window_seconds=60, at=T0 + 30)
    recent = velocity_figures("card", value, window_seconds=15, at=T0 + 30)

    assert whole == Figures(count=4, total_amount=0, distinct_members=2)
    assert recent == Figures(count=2, total_amount=0, distinct_members=1)  # only cus_a, again at T0+20


def test_a_member_seen_again_out_of_order_keeps_its_latest_time(value):
    velocity_record("card", value, at=T0 + 50, member="cus_a")
    velocity_record("card", value, at=T0, member="cus_a")  # arrives late

    figures = velocity_figures("card", value, window_seconds=10, at=T0 + 55)

    assert figures.distinct_members == 1


def test_check_and_record_returns_the_figures_including_this_attempt(value):
    velocity_record("customer", value, amount=300, at=T0, member="card_1")

    figures = velocity_check_and_record("customer", value, window_seconds=60, amount=200, at=T0 + 1, member="card_2")

    assert figures == Figures(count=2, total_amount=500, distinct_members=2)
    assert velocity_figures("customer", value, window_seconds=60, at=T0 + 1) == figures


def test_check_and_record_reports_several_windows_in_one_step(value):
    velocity_record("card", value, amount=100, at=T0)

    minute, day = velocity_check_and_record_windows("card", value, windows_seconds=[60, 86400], amount=50, at=T0 + 3600)

    assert minute == Figures(count=1, total_amount=50, distinct_members=0)
    assert day == Figures(count=2, total_amount=150, distinct_members=0)


def test_reading_figures_writes_nothing(value, redis_db):
    velocity_figures("ip", value, window_seconds=60)

    assert risk_keys(redis_db) == []


def test_without_a_given_time_redis_clock_is_used(value):
    first = velocity_check_and_record("key", value, window_seconds=60, amount=10)
    second = velocity_check_and_record("key", value, window_seconds=60, amount=20)

    assert (first.count, second.count) == (1, 2)
    assert velocity_figures("key", value, window_seconds=60) == Figures(count=2, total_amount=30, distinct_members=0)


def test_every_key_expires_and_old_entries_are_dropped(value, redis_db, settings):
    settings.RISK_VELOCITY_MAX_WINDOW_SECONDS = 600
    velocity_record("card", value, at=T0, member="cus_old")

    velocity_record("card", value, at=T0 + 601, member="cus_new")

    keys = risk_keys(redis_db)
    events, members = (next(key for key in keys if key.endswith(suffix)) for suffix in (":events", ":members"))
    assert len(keys) == 2
    assert all(600 < redis_db.ttl(key) <= 660 for key in keys)
    assert redis_db.zcard(events) == 1
    assert redis_db.zcard(members) == 1


def test_personal_values_appear_in_no_key_nor_entry(redis_db):
    email, address, customer_email = "alice.velocity@example.com", "203.0.113.77", "bob.velocity@example.com"

    velocity_record("email", email, amount=100, member=customer_email)
    velocity_record("ip", address, member=customer_email)

    keys = risk_keys(redis_db)
    stored = " ".join(keys + [entry for key in keys for entry in redis_db.zrange(key, 0, -1)])
    assert len(keys) == 4
    for personal in (email, address, customer_email, "alice", "203.0.113", "example.com"):
        assert personal not in stored


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda value: velocity_figures("card", value, window_seconds=86400 * 7 + 1), "window"),
        (lambda value: velocity_figures("card", value, window_seconds=0), "window"),
        (lambda value: velocity_record("Card", value), "dimension"),
        (lambda value: velocity_record("card", value, event="decline:all"), "event"),
        (lambda value: velocity_record("card", ""), "empty"),
        (lambda value: velocity_record("card", value, amount=-1), "amount"),
        (lambda value: velocity_record("card", value, member=""), "member"),
        (lambda value: velocity_record("card", value, at=float("nan")), "at"),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_written(call, message, value, redis_db):
    with pytest.raises(ValueError, match=message):
        call(value)

    assert risk_keys(redis_db) == []


@pytest.mark.parametrize("url", ["", "redis://127.0.0.1:1/0"])
def test_without_redis_the_caller_is_told_counters_are_unavailable(url, value, settings):
    settings.REDIS_URL = url

    with pytest.raises(VelocityUnavailable) as unavailable:
        velocity_check_and_record("card", value, window_seconds=60)

    assert unavailable.value.code == "risk_unavailable"
    assert unavailable.value.status_code == 503


def test_simultaneous_attempts_see_every_count_exactly_once(value):
    threads_count, calls_each = 16, 25
    start = threading.Barrier(threads_count)
    seen: list[list[Figures]] = [[] for _ in range(threads_count)]
    errors: list[BaseException] = []

    def attempt(index: int) -> None:
        try:
            start.wait(timeout=10)
            for _ in range(calls_each):
                seen[index].append(
                    velocity_check_and_record("card", value, window_seconds=3600, amount=3, member=f"cus_{index}")
                )
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=attempt, args=(index,)) for index in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    total = threads_count * calls_each
    counts = sorted(figures.count for figures_seen in seen for figures in figures_seen)
    assert errors == []
    assert counts == list(range(1, total + 1))
    # Each call's figures are those of the same moment: amount follows count.
    assert all(figures.total_amount == 3 * figures.count for figures_seen in seen for figures in figures_seen)
    # Each thread saw its own counts rise.
    assert all(
        [figures.count for figures in figures_seen] == sorted(figures.count for figures in figures_seen)
        for figures_seen in seen
    )
    assert velocity_figures("card", value, window_seconds=3600) == Figures(
        count=total, total_amount=3 * total, distinct_members=threads_count
    )


# --- one attempt, every figure of its sources in one round trip -------------------------------


def test_an_observation_records_the_attempt_and_reads_its_figures(value):
    velocity_record("card", value, event="decline", at=T0)
    velocity_record("card", value, event="decline", at=T0 - 900)  # outside 10 minutes
    asked = Observation(
        "card", value, 86400, amount=500, member="cus_1", with_total=True, small_window=60, decline_windows=(600, 3600)
    )

    (first,) = velocity_observe([asked], at=T0 + 1)
    (second,) = velocity_observe(
        [Observation("card", value, 86400, amount=700, member="cus_2", with_total=True)], at=T0 + 2
    )

    assert first.attempts == Figures(count=1, total_amount=500, distinct_members=1)
    assert (first.small_attempts, first.declines) == (1, (1, 2))
    assert second.attempts == Figures(count=2, total_amount=1200, distinct_members=2)
    assert (second.small_attempts, second.declines) == (None, ())
    # without the total, only the count (a hot value is never walked)
    (third,) = velocity_observe([Observation("card", value, 86400)], at=T0 + 3)
    assert (third.attempts.count, third.attempts.total_amount) == (3, 0)


def test_several_sources_are_observed_in_one_call(value):
    card, ip, key = velocity_observe(
        [Observation("card", value, 3600), Observation("ip", value, 3600), Observation("key", value, 60)], at=T0
    )

    assert (card.attempts.count, ip.attempts.count, key.attempts.count) == (1, 1, 1)


def test_a_retry_of_the_same_request_is_one_attempt(value):
    asked = Observation("ip", value, 3600, small_window=60, event_id="ref-1")

    first = velocity_observe([asked], at=T0)[0]
    retry = velocity_observe([asked], at=T0 + 5)[0]
    other = velocity_observe([Observation("ip", value, 3600, small_window=60, event_id="ref-2")], at=T0 + 6)[0]

    assert (first.attempts.count, retry.attempts.count, other.attempts.count) == (1, 1, 2)
    assert (first.small_attempts, retry.small_attempts, other.small_attempts) == (1, 1, 2)


def test_a_value_keeps_its_entries_only_as_long_as_its_windows(value, redis_db):
    velocity_observe([Observation("key", value, 60)], at=T0)
    velocity_observe([Observation("key", value, 60)], at=T0 + 61)

    (events,) = [key for key in risk_keys(redis_db) if key.endswith(":attempt:events")]
    assert redis_db.zcard(events) == 1  # the minute-old one was dropped
    assert 60 < redis_db.ttl(events) <= 60 + 60


def test_an_observation_survives_redis_forgetting_its_script(value, redis_db):
    velocity_observe([Observation("ip", value, 60)], at=T0)
    redis_db.script_flush()

    (seen,) = velocity_observe([Observation("ip", value, 60)], at=T0 + 1)

    assert seen.attempts.count == 2


def test_simultaneous_observations_see_every_count_exactly_once(value):
    threads_count, calls_each = 16, 25
    start = threading.Barrier(threads_count)
    counts: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def attempt() -> None:
        try:
            start.wait(timeout=10)
            for _ in range(calls_each):
                (seen,) = velocity_observe([Observation("card", value, 3600, small_window=60)])
                with lock:
                    counts.append(seen.small_attempts or 0)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=attempt) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert sorted(counts) == list(range(1, threads_count * calls_each + 1))


def test_amounts_are_summed_by_minute_once_per_attempt(value, redis_db):
    def observe(amount: int, at: float, event_id: str = "") -> Figures:
        asked = Observation("card", value, 86400, amount=amount, with_total=True, event_id=event_id)
        return velocity_observe([asked], at=at)[0].attempts

    assert observe(100, T0, "ref-1").total_amount == 100
    assert observe(100, T0 + 1, "ref-1").total_amount == 100  # the retry adds nothing
    assert observe(40, T0 + 3600).total_amount == 140
    later = observe(50, T0 + 86400 + 120)  # the first minute is out of the day's window

    assert (later.count, later.total_amount) == (2, 90)
    (amounts,) = [key for key in risk_keys(redis_db) if key.endswith(":amounts")]
    assert len(redis_db.hgetall(amounts)) == 2  # the old minute was dropped
