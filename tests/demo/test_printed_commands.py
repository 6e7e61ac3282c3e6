"""What `seed_demo` prints is run exactly as printed, against a live server and its sandboxes, so
the quickstart's instructions and the product cannot drift apart.

The commands run in a shell from the checkout, as a developer would type them, with two
differences the test cannot avoid: the manage.py commands use the test settings and this test's
database (the developer's own is never touched), and no .env file is read."""

from __future__ import annotations

import json
import os
import re
import subprocess
from io import StringIO
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from django.core.management import call_command
from django.db import connection

from tests.conftest import ANET_PATH, RZP_PATH, STRIPE_PATH

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
COMMAND = re.compile(r"((?:[A-Z_]+=\S+ )*(?:curl|make) .*)$")
# What a developer's shell would not have set (the Makefile supplies them).
NOT_IN_A_FRESH_SHELL = (
    "AUTHORIZENET_TEST_ENDPOINT",
    "RAZORPAY_TEST_API_BASE",
    "STRIPE_TEST_API_BASE",
    "PUBLIC_BASE_URL",
    "HOST",
    "PORT",
    "ARGS",
    "VIRTUAL_ENV",
    "MAKEFLAGS",
    "MFLAGS",
    "MAKELEVEL",
)


def database_url() -> str:
    db = connection.settings_dict
    credentials = f"{db['USER']}:{db['PASSWORD']}@" if db["PASSWORD"] else f"{db['USER']}@"
    return f"postgres://{credentials}{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def shell_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in NOT_IN_A_FRESH_SHELL}
    return {
        **env,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url(),
        "DJANGO_READ_DOT_ENV_FILE": "false",
        "ENV_FILE": "/dev/null",
    }


def run(command: str) -> str:
    result = subprocess.run(
        ["bash", "-c", command], cwd=ROOT, env=shell_env(), capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_every_command_seed_demo_prints_works_as_printed(live_server, settings):
    # The live server's own sandboxes, as `make run` points the server it starts at itself.
    settings.AUTHORIZENET_TEST_ENDPOINT = f"{live_server.url}{ANET_PATH}"
    settings.RAZORPAY_TEST_API_BASE = f"{live_server.url}{RZP_PATH}"
    settings.STRIPE_TEST_API_BASE = f"{live_server.url}{STRIPE_PATH}"
    printed = StringIO()
    call_command("seed_demo", "--base-url", live_server.url, stdout=printed)
    lines = printed.getvalue().splitlines()

    commands = [match.group(1) for line in lines if (match := COMMAND.search(line))]
    outputs = [run(command) for command in commands]

    assert [command.split(" ")[0] for command in commands[:2]] == ["curl", "curl"]
    server = urlsplit(live_server.url)  # not make's default address: so HOST and PORT are printed
    assert all(
        command.startswith(f"HOST={server.hostname} PORT={server.port} make manage ARGS=") for command in commands[2:]
    )
    assert len(commands) == 5
    charge, merchant, injected, settled, reconciled = outputs
    assert (json.loads(charge)["status"], json.loads(charge)["amount_captured"]) == ("captured", 1050)
    assert json.loads(merchant)["object"] == "merchant"
    assert injected.startswith("Injected") and "9.00 USD" in injected
    assert settled.startswith("Settled batch")
    assert "1 batch(es) imported" in reconciled
    assert "discrepancies opened: amount_mismatch 1" in reconciled
    # And every address printed answers (the admin's and the docs' by their login or the page).
    urls = {url.rstrip(").,") for line in lines for url in re.findall(r"https?://\S+", line)}
    for url in sorted(url for url in urls if "/api/v1/" not in url):
        assert requests.get(url, timeout=10).status_code == 200, url
