"""Arguments of management commands: bad input stops the command with a message saying what was
given and what is expected (a CommandError, exit status 2 from the shell), never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from argparse import ArgumentTypeError
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from apps.core.command_args import (
    amount_from_major,
    day_arg,
    minor_units_arg,
    moment_arg,
    positive_int_arg,
    positive_seconds_arg,
    seconds_arg,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("parse", "text", "value"),
    [
        (positive_int_arg, "1", 1),
        (positive_int_arg, " 250 ", 250),
        (minor_units_arg, "900", 900),
        (seconds_arg, "0", 0.0),
        (seconds_arg, "30", 30.0),
        (positive_seconds_arg, "0.5", 0.5),
        (day_arg, "2026-12-01", date(2026, 12, 1)),
        (moment_arg, "2026-12-01", datetime(2026, 12, 1, tzinfo=UTC)),
        (moment_arg, "2026-12-01T09:30:00Z", datetime(2026, 12, 1, 9, 30, tzinfo=UTC)),
        (moment_arg, "2026-12-01T09:30", datetime(2026, 12, 1, 9, 30, tzinfo=UTC)),
        (
            moment_arg,
            "2026-12-01T09:30:00+05:30",
            datetime(2026, 12, 1, 9, 30, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        ),
    ],
)
def test_good_values_are_parsed(parse, text, value):
    parsed = parse(text)

    assert parsed == value
    if isinstance(value, datetime):
        assert parsed.utcoffset() == value.utcoffset()


@pytest.mark.parametrize(
    ("parse", "text", "expected"),
    [
        (positive_int_arg, "abc", "a whole number of at least 1"),
        (positive_int_arg, "0", "a whole number of at least 1"),
        (positive_int_arg, "-5", "a whole number of at least 1"),
        (positive_int_arg, "2.5", "a whole number of at least 1"),
        (positive_int_arg, "²", "a whole number of at least 1"),
        (positive_int_arg, "9" * 30, "a whole number of at least 1"),
        (minor_units_arg, "9.00", "an amount in minor units (cents)"),
        (minor_units_arg, "0", "an amount in minor units (cents)"),
        (seconds_arg, "-1", "a number of seconds 0 or more"),
        (seconds_arg, "nan", "a number of seconds 0 or more"),
        (seconds_arg, "soon", "a number of seconds 0 or more"),
        (positive_seconds_arg, "0", "a number of seconds above zero"),
        (positive_seconds_arg, "inf", "a number of seconds above zero"),
        (day_arg, "2026-02-30", "a day as YYYY-MM-DD"),
        (day_arg, "yesterday", "a day as YYYY-MM-DD"),
        (moment_arg, "2026-13-01", "an ISO 8601 date or date-time"),
        (moment_arg, "next monday", "an ISO 8601 date or date-time"),
    ],
)
def test_bad_values_say_what_was_given_and_what_is_expected(parse, text, expected):
    with pytest.raises(ArgumentTypeError) as refused:
        parse(text)

    assert f"must be {expected}" in str(refused.value)
    assert str(refused.value).endswith(f"; got {text!r}")


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("12.50", "USD", 1250),
        ("12.5", "USD", 1250),
        ("1e2", "USD", 10000),
        ("1250", "JPY", 1250),
        ("1.234", "KWD", 1234),
    ],
)
def test_amounts_in_major_units_become_minor_units(text, currency, minor):
    assert amount_from_major(text, currency) == minor


@pytest.mark.parametrize(
    ("text", "currency", "message"),
    [
        ("abc", "USD", "--amount must be an amount above zero in USD (at most 2 decimal places), such as 12.50; got 'abc'"),
        ("12.5", "JPY", "--amount must be an amount above zero in JPY (no decimal places), such as 1250; got '12.5'"),
        ("1.2345", "KWD", "--amount must be an amount above zero in KWD (at most 3 decimal places), such as 12.500; got '1.2345'"),
        ("-0.01", "USD", "--amount must be an amount above zero in USD (at most 2 decimal places), such as 12.50; got '-0.01'"),
        ("1e30", "USD", "--amount must be an amount above zero in USD (at most 2 decimal places), such as 12.50; got '1e30', more than any amount can be"),
    ],
)  # fmt: skip
def test_bad_amounts_in_major_units_are_command_errors(text, currency, message):
    with pytest.raises(CommandError) as refused:
        amount_from_major(text, currency)

    assert str(refused.value) == message


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("command", "args", "message"),
    [
        ("reconcile", ["--account", "gwa_x", "--date", "2026-02-30"], "argument --date: must be a day as YYYY-MM-DD"),
        ("bill_subscriptions", ["--as-of", "tomorrow"], "argument --as-of: must be an ISO 8601 date or date-time"),
        ("bill_subscriptions", ["--batch-size", "0"], "argument --batch-size: must be a whole number of at least 1"),
        ("replay_webhooks", ["--since", "2026-02-30"], "argument --since: must be an ISO 8601 date or date-time"),
        ("webhook_status", ["--failed", "--limit", "-1"], "argument --limit: must be a whole number of at least 1"),
        ("reconcile_checkouts", ["--limit", "-1"], "argument --limit: must be a whole number of at least 1"),
        ("sandbox_arb_run", ["--as-of", "2026-12-01 noon"], "argument --as-of: must be an ISO 8601 date or date-time"),
        ("sandbox_discrepancy", ["amount", "--account", "x", "--amount", "9.00"], "argument --amount: must be an amount in minor units"),
        ("stripe_listen", ["--interval", "-1"], "argument --interval: must be a number of seconds above zero"),
        ("stripe_listen", ["--timeout", "nan"], "argument --timeout: must be a number of seconds 0 or more"),
        ("stripe_listen", ["--limit", "0"], "argument --limit: must be a whole number of at least 1"),
        ("reconcile", ["--account", "²"], "No gateway account '²': give its public id (gwa_…) or its numeric id"),
        ("reconcile", ["--account", "9" * 30], "No gateway account"),
    ],
)  # fmt: skip
def test_every_command_refuses_a_bad_argument_with_a_clear_message(command, args, message):
    with pytest.raises(CommandError) as refused:
        call_command(command, *args)

    assert message in str(refused.value)


def test_from_the_shell_a_bad_argument_exits_2_with_the_message_and_no_traceback():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", "DJANGO_READ_DOT_ENV_FILE": "false"}

    result = subprocess.run(
        [sys.executable, "manage.py", "replay_webhooks", "--since", "2026-02-30"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip

    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines()[-1] == (
        "manage.py replay_webhooks: error: argument --since: must be an ISO 8601 date or date-time, "
        "such as 2026-12-01 or 2026-12-01T09:30:00Z; got '2026-02-30'"
    )
    assert "Traceback" not in result.stderr
