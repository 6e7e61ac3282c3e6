"""Velocity counters: how many attempts (declines, ...) a card, customer, email, address or API key
made in a sliding window, their total amount and how many distinct members (customers per card,
cards per customer) took part. Exact, also under concurrency.

Each (dimension, value, event) has two sorted sets in Redis:
- `...:events`: one entry per event, scored by its time in milliseconds, named by a random id
  and the amount (`<id>:<amount>`), so equal events never collapse into one;
- `...:members`: one entry per distinct member, scored by the last time it was seen.

A window's figures are read from the entries scored in (at - window, at]. Writing an event, then
reading the figures of the windows asked for, is one Lua script: Redis runs scripts one at a time,
so of N simultaneous attempts each sees the ones before it and itself, and their counts are
exactly 1..N. Memory is bounded: every write drops the entries older than
RISK_VELOCITY_MAX_WINDOW_SECONDS and sets both keys to expire that long after it. The cost is one
entry per event kept that long, and reading a window walks its entries (for the amount), so a
dimension with hundreds of events a second (an API key) belongs in the fixed-window throttle
(apps/merchants/throttling.py), not here.

Values and members may be personal data (emails, IP addresses): key names and member names hold
an HMAC of them under RISK_FINGERPRINT_KEY, never the value. A plain SHA-256 would not hide an
IPv4 address (2**32 guesses) from whoever can list the keys.

Without `at`, the time is Redis's own clock, one clock for every web and worker process; `at`
(seconds since the epoch) is for backfills and tests.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import redis
from django.conf import settings
from redis.commands.core import Script

from apps.core.errors import ApplicationError, ErrorType
from apps.core.redis_client import redis_client
from apps.risk.fingerprint import risk_key

KEY_VERSION = "v2"  # v2: one hash tag per (dimension, value), so one script reads all its events
_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
_DIGEST_HEX_CHARS = 32  # 128 bits: no two values of a deployment share a counter
# Keys outlive their newest entry by the longest window, plus this margin for clock differences.
_TTL_MARGIN_SECONDS = 60

# Shared by both scripts: the figures of each window (milliseconds) in ARGV[first..], as
# count, total amount, distinct members; `now` in milliseconds.
_FIGURES_LUA = """
local function now_ms(arg)
  if arg ~= '' then
    return tonumber(arg)
  end
  local time = redis.call('TIME')
  return tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end

local function figures(now, first)
  local result = {}
  local high = string.format('%d', now)
  for index = first, #ARGV do
    local low = string.format('(%d', now - tonumber(ARGV[index]))
    local entries = redis.call('ZRANGEBYSCORE', KEYS[1], low, high)
    local total = 0
    for _, entry in ipairs(entries) do
      total = total + tonumber(string.match(entry, ':(%d+)$'))
    end
    result[#result + 1] = #entries
    result[#result + 1] = total
    result[#result + 1] = redis.call('ZCOUNT', KEYS[2], low, high)
  end
  return result
end
"""

# KEYS: events, members. ARGV: now (ms, or '' for Redis's clock), longest window (ms), TTL (s),
# entry ("<id>:<amount>"), member digest (or ''), then the windows to report (ms).
_RECORD_LUA = (
    _FIGURES_LUA
    + """
local now = now_ms(ARGV[1])
local oldest = string.format('%d', now - tonumber(ARGV[2]))
redis.call('ZADD', KEYS[1], string.format('%d', now), ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', oldest)
redis.call('EXPIRE', KEYS[1], ARGV[3])
if ARGV[5] ~= '' then
  -- GT: a member's score is its latest time, also when events arrive out of order.
  redis.call('ZADD', KEYS[2], 'GT', string.format('%d', now), ARGV[5])
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', oldest)
  redis.call('EXPIRE', KEYS[2], ARGV[3])
end
return figures(now, 6)
"""
)

# KEYS: events, members. ARGV: now (ms, or ''), then the windows to report (ms).
_FIGURES_ONLY_LUA = (
    "#!lua flags=no-writes\n"
    + _FIGURES_LUA
    + """
return figures(now_ms(ARGV[1]), 2)
"""
)


# One payment attempt seen by one value (a card, an IP address, an API key), in one script: record
# the attempt (and, for a small one, the small attempt) and read what the rules and the card-testing
# limits ask about it. KEYS: attempt events, attempt members, decline events, small-attempt events,
# amounts by minute, all of one value (one hash tag). ARGV: now (ms, or ''), retention (ms), TTL
# (s), entry, member digest (or ''), '1' to sum the attempts' amounts (over whole minutes: the
# window's last minutes, the current one included), attempt window (ms), small window (ms, or ''
# when not small), then the decline windows (ms). Returns: attempts, amount, members, small
# attempts (-1: not small), then the decline count of each window.
_OBSERVE_LUA = (
    _FIGURES_LUA
    + """
local function record(key, now, oldest, entry, ttl)
  local added = redis.call('ZADD', key, string.format('%d', now), entry)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', oldest)
  redis.call('EXPIRE', key, ttl)
  return added
end
local function since(now, ms)
  return string.format('(%d', now - tonumber(ms)), string.format('%d', now)
end
local now = now_ms(ARGV[1])
local oldest = string.format('%d', now - tonumber(ARGV[2]))
local new_attempt = record(KEYS[1], now, oldest, ARGV[4], ARGV[3])
if ARGV[5] ~= '' then
  redis.call('ZADD', KEYS[2], 'GT', string.format('%d', now), ARGV[5])
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', oldest)
  redis.call('EXPIRE', KEYS[2], ARGV[3])
end
local low, high = since(now, ARGV[7])
local count = redis.call('ZCOUNT', KEYS[1], low, high)
local total = 0
if ARGV[6] == '1' then
  -- Amounts by minute (a hash of at most a window's minutes): the sum costs the same however
  -- many attempts the value makes. A retry (an entry already there) adds nothing.
  local minute = math.floor(now / 60000)
  local first = minute - math.floor(tonumber(ARGV[7]) / 60000) + 1
  if new_attempt == 1 then
    redis.call('HINCRBY', KEYS[5], minute, tonumber(string.match(ARGV[4], ':(%d+)$')))
    redis.call('EXPIRE', KEYS[5], ARGV[3])
  end
  local buckets = redis.call('HGETALL', KEYS[5])
  for index = 1, #buckets, 2 do
    local at = tonumber(buckets[index])
    if at < first then
      redis.call('HDEL', KEYS[5], buckets[index])
    elseif at <= minute then
      total = total + tonumber(buckets[index + 1])
    end
  end
end
local result = {count, total, redis.call('ZCOUNT', KEYS[2], low, high), -1}
if ARGV[8] ~= '' then
  record(KEYS[4], now, oldest, ARGV[4], ARGV[3])
  local small_low, small_high = since(now, ARGV[8])
  result[4] = redis.call('ZCOUNT', KEYS[4], small_low, small_high)
end
for index = 9, #ARGV do
  local decline_low, decline_high = since(now, ARGV[index])
  result[#result + 1] = redis.call('ZCOUNT', KEYS[3], decline_low, decline_high)
end
return result
"""
)


class VelocityUnavailable(ApplicationError):
    """Redis cannot be reached (or is not configured): the caller decides whether to let the
    attempt through without its figures or to refuse it."""

    status_code = 503
    error_type = ErrorType.API
    code = "risk_unavailable"
    default_message = "Risk checks are unavailable; try again later."


@dataclass(frozen=True)
class Figures:
    """One window of one counter: events, the sum of their amounts (minor units), and how many
    distinct members took part."""

    count: int
    total_amount: int
    distinct_members: int


@dataclass(frozen=True)
class Observation:
    """What one value (`dimension`, `value`) is asked about one payment attempt: the attempt is
    recorded and counted over `attempt_window` seconds (with the amounts summed over the window's
    whole minutes when `with_total`, and `member` counted once); a small attempt is recorded and
    counted over `small_window` seconds; the value's declines are counted over each of
    `decline_windows`. `event_id` (the request's idempotency reference) makes a retry of the same
    attempt one entry, not two."""

    dimension: str
    value: str
    attempt_window: int
    amount: int = 0
    member: str | None = None
    with_total: bool = False
    small_window: int | None = None
    decline_windows: tuple[int, ...] = ()
    event_id: str = ""


@dataclass(frozen=True)
class Observed:
    attempts: Figures  # this attempt included
    small_attempts: int | None  # this one included; None when it is not small
    declines: tuple[int, ...]  # per decline window


@dataclass(frozen=True)
class _Scripts:
    record: Script
    figures: Script
    observe: Script


@lru_cache(maxsize=4)
def _scripts_for(url: str) -> _Scripts:
    client = redis_client(url)
    return _Scripts(
        record=client.register_script(_RECORD_LUA),
        figures=client.register_script(_FIGURES_ONLY_LUA),
        observe=client.register_script(_OBSERVE_LUA),
    )


def _scripts() -> _Scripts:
    url: str = settings.REDIS_URL
    if not url:
        raise VelocityUnavailable("Velocity counters need Redis: REDIS_URL is not set.")
    return _scripts_for(url)


def _digest(purpose: bytes, *parts: str) -> str:
    message = purpose + b"\x00".join(part.encode() for part in parts)
    return hmac.new(risk_key(), message, hashlib.sha256).hexdigest()[:_DIGEST_HEX_CHARS]


def _keys(dimension: str, value: str, event: str) -> list[str]:
    for label, name in (("dimension", dimension), ("event", event)):
        if not _NAME.fullmatch(name):
            raise ValueError(f"{label} must be a short lowercase name, like 'card' or 'attempt'")
    if not value:
        raise ValueError("value is empty")
    prefix: str = settings.CACHES["default"].get("KEY_PREFIX", "")
    digest = _digest(b"clearhouse:risk:velocity-value:" + KEY_VERSION.encode(), dimension, value)
    # The braces are a Redis Cluster hash tag: every key of one value (its attempts, declines,
    # small attempts) lives on one node, as a script touching them all needs.
    base = f"{prefix}:risk:{KEY_VERSION}:{{{dimension}:{digest}}}:{event}"
    return [f"{base}:events", f"{base}:members"]


def _now_argument(at: float | None) -> str:
    if at is None:
        return ""
    if not math.isfinite(at) or at < 0:
        raise ValueError("at must be a time in seconds since the epoch")
    return str(int(at * 1000))


def _window_arguments(windows_seconds: Sequence[int]) -> list[int]:
    longest: int = settings.RISK_VELOCITY_MAX_WINDOW_SECONDS
    if not windows_seconds:
        raise ValueError("no window")
    for window in windows_seconds:
        if not 0 < window <= longest:
            # Entries older than the longest window are dropped: a longer one would read short.
            raise ValueError(f"a window is 1 to {longest} seconds (RISK_VELOCITY_MAX_WINDOW_SECONDS)")
    return [window * 1000 for window in windows_seconds]


def _run(script: Script, keys: list[str], arguments: list[Any]) -> list[Figures]:
    try:
        raw: list[int] = script(keys=keys, args=arguments)
    except redis.RedisError as exc:
        raise VelocityUnavailable(extra={"error": f"{type(exc).__name__}: {exc}"[:200]}) from exc
    return [Figures(*(int(number) for number in raw[index : index + 3])) for index in range(0, len(raw), 3)]


def _record_arguments(at: float | None, amount: int, member: str | None, event_id: str = "") -> list[Any]:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
        raise ValueError("amount is a non-negative integer in minor units")
    if member == "":
        raise ValueError("member is empty")
    longest: int = settings.RISK_VELOCITY_MAX_WINDOW_SECONDS
    # An event with an id of its own (a payment's idempotency reference) is one entry however often
    # it is recorded: a retry of the same request is not a second attempt.
    name = _digest(b"clearhouse:risk:velocity-event:" + KEY_VERSION.encode(), event_id) if event_id else None
    entry = f"{name or secrets.token_hex(10)}:{amount}"
    member_digest = _digest(b"clearhouse:risk:velocity-member:" + KEY_VERSION.encode(), member) if member else ""
    return [_now_argument(at), longest * 1000, longest + _TTL_MARGIN_SECONDS, entry, member_digest]


def velocity_check_and_record_windows(
    dimension: str,
    value: str,
    *,
    windows_seconds: Sequence[int],
    amount: int = 0,
    at: float | None = None,
    event: str = "attempt",
    member: str | None = None,
) -> list[Figures]:
    """Record one event and return, in the same atomic step, each window's figures including it
    (one round trip for a rule set that looks at several windows)."""
    keys = _keys(dimension, value, event)
    arguments = [*_record_arguments(at, amount, member), *_window_arguments(windows_seconds)]
    return _run(_scripts().record, keys, arguments)


def velocity_check_and_record(
    dimension: str,
    value: str,
    *,
    window_seconds: int,
    amount: int = 0,
    at: float | None = None,
    event: str = "attempt",
    member: str | None = None,
) -> Figures:
    """Record one event and return the window's figures including it, atomically: of N
    simultaneous calls on one counter, each sees a different count, 1 to N."""
    (figures,) = velocity_check_and_record_windows(
        dimension, value, windows_seconds=[window_seconds], amount=amount, at=at, event=event, member=member
    )
    return figures


def velocity_record(
    dimension: str,
    value: str,
    *,
    amount: int = 0,
    at: float | None = None,
    event: str = "attempt",
    member: str | None = None,
) -> None:
    """Record one event of `value` (e.g. a card's fingerprint) in `dimension` (e.g. "card").

    `amount` is in minor units; `member` is counted once per window however often it comes back
    (e.g. the customer, to count customers per card)."""
    keys = _keys(dimension, value, event)
    _run(_scripts().record, keys, _record_arguments(at, amount, member))


def velocity_figures(
    dimension: str, value: str, *, window_seconds: int, event: str = "attempt", at: float | None = None
) -> Figures:
    """The figures of the window of `window_seconds` ending at `at` (default: now), read only."""
    keys = _keys(dimension, value, event)
    (figures,) = _run(_scripts().figures, keys, [_now_argument(at), *_window_arguments([window_seconds])])
    return figures


def _observe_arguments(observation: Observation, at: float | None) -> list[Any]:
    windows = [observation.attempt_window, *observation.decline_windows]
    if observation.small_window is not None:
        windows.append(observation.small_window)
    _window_arguments(windows)  # each within the longest window
    retention = max(windows)  # kept only as long as this value's figures look back
    now, _, _, entry, member = _record_arguments(at, observation.amount, observation.member, observation.event_id)
    small = "" if observation.small_window is None else observation.small_window * 1000
    return [
        now,
        retention * 1000,
        retention + _TTL_MARGIN_SECONDS,
        entry,
        member,
        "1" if observation.with_total else "",
        observation.attempt_window * 1000,
        small,
        *(window * 1000 for window in observation.decline_windows),
    ]


def velocity_observe(observations: Sequence[Observation], *, at: float | None = None) -> list[Observed]:
    """Each observation in one script of its value, all of them in one round trip to Redis (a
    pipeline): of N simultaneous attempts on one value, each sees a different count, 1 to N."""
    return velocity_observe_reading(observations, (), at=at)[0]


def velocity_observe_reading(
    observations: Sequence[Observation], keys: Sequence[str], *, at: float | None = None
) -> tuple[list[Observed], list[Any]]:
    """velocity_observe, and the values of the plain string `keys` (MGET) in the same round trip
    (the risk rules' and lists' stamps, apps.risk.stamps)."""
    calls = []
    for observation in observations:
        digest_keys = _keys(observation.dimension, observation.value, "attempt")
        decline_keys = _keys(observation.dimension, observation.value, "decline")
        small_keys = _keys(observation.dimension, observation.value, "small_attempt")
        amounts = digest_keys[0].removesuffix(":events") + ":amounts"
        calls.append(([*digest_keys, decline_keys[0], small_keys[0], amounts], _observe_arguments(observation, at)))
    if not calls and not keys:
        return [], []
    script = _scripts().observe
    try:
        raw = _pipelined(script, calls, keys)
    except redis.RedisError as exc:
        raise VelocityUnavailable(extra={"error": f"{type(exc).__name__}: {exc}"[:200]}) from exc
    values: list[Any] = list(raw.pop()) if keys else []
    observed = []
    for numbers in raw:
        figures = Figures(int(numbers[0]), int(numbers[1]), int(numbers[2]))
        small = None if int(numbers[3]) < 0 else int(numbers[3])
        observed.append(Observed(figures, small, tuple(int(number) for number in numbers[4:])))
    return observed, values


def _pipelined(script: Script, calls: list[tuple[list[str], list[Any]]], reads: Sequence[str] = ()) -> list[Any]:
    """EVALSHA of each call in one pipeline, then MGET of `reads` when there are any (its answer
    last); the script is loaded (again) when Redis lacks it."""
    client = script.registered_client
    for attempt in range(2):
        pipe = client.pipeline(transaction=False)
        for keys, arguments in calls:
            pipe.evalsha(script.sha, len(keys), *keys, *arguments)
        if reads:
            pipe.mget(list(reads))
        try:
            return pipe.execute()
        except redis.exceptions.NoScriptError:
            if attempt:
                raise
            client.script_load(script.script)
    raise AssertionError("unreachable")  # pragma: no cover
