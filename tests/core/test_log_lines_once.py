"""One line per event: what the configured handlers really write, in a fresh process set up as
`make run` (dev settings, DEBUG on, console lines) and as production writes (JSON lines)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# In the child process: a warning and an error with its traceback from Django's request logger,
# then the broker connection the worker and every publisher make, opened the way they open it.
SCRIPT = textwrap.dedent(
    """
    import logging

    import django

    django.setup()
    from config.celery import app

    logging.getLogger("django.request").warning("Not Found: /nowhere-7f3a")
    try:
        raise ValueError("broken-7f3a")
    except ValueError:
        logging.getLogger("django.request").error("Internal Server Error: /boom-7f3a", exc_info=True)
    with app.connection_for_write() as connection:
        for _ in range(3):
            connection.clone().info()
    """
)


def run_logged(**env: str) -> str:
    scrubbed = ("REDIS_URL", "CELERY_BROKER_URL", "LOG_FILE", "LOG_LEVEL", "LOG_FORMAT", "DATABASE_URL")
    clean = {key: value for key, value in os.environ.items() if key not in scrubbed}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        env={**clean, "DJANGO_READ_DOT_ENV_FILE": "false", "DATABASE_URL": "sqlite://:memory:", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    "env",
    [
        {"DJANGO_SETTINGS_MODULE": "config.settings.dev", "DEBUG": "true", "LOG_FORMAT": "console"},
        {"DJANGO_SETTINGS_MODULE": "config.settings.dev", "DEBUG": "false", "LOG_FORMAT": "json"},
    ],
    ids=["dev-console", "json"],
)
def test_each_warning_error_and_traceback_is_written_once_and_kombu_stays_quiet(env):
    output = run_logged(**env)
    lines = output.splitlines()

    assert sum("Not Found: /nowhere-7f3a" in line for line in lines) == 1, output
    assert sum("Internal Server Error: /boom-7f3a" in line for line in lines) == 1, output
    assert output.count("Traceback (most recent call last)") == 1, output
    assert output.count("broken-7f3a") == 1, output
    assert "No hostname was supplied" not in output


def test_django_logs_at_info_at_most_whatever_log_level_says():
    from apps.core.logging import build_logging_config

    assert build_logging_config(level="DEBUG", fmt="json")["loggers"]["django"]["level"] == "INFO"
    assert build_logging_config(level="WARNING", fmt="json")["loggers"]["django"]["level"] == "WARNING"
