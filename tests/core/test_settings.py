"""Production settings: `check --deploy` passes with the documented variables, and each
required secret is refused when missing."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]

PROD_ENV = {
    "DJANGO_SETTINGS_MODULE": "config.settings.prod",
    "DJANGO_READ_DOT_ENV_FILE": "false",
    # Made per run: a value written in the repository is public, and production refuses it.
    "SECRET_KEY": secrets.token_urlsafe(50),
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/clearhouse",
    "REDIS_URL": "redis://127.0.0.1:6379/15",
    "ALLOWED_HOSTS": "backoffice.example.com",
    "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    "RISK_FINGERPRINT_KEY": secrets.token_urlsafe(32),
}
SHIPPED_FIELD_KEY = "q8sO2n3dKQm6bZ0tGJ6qk9yT3yD2w1vV5xk3r7uE8aA="  # base.py's dev/test fallback


def run_manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {key: value for key, value in os.environ.items() if key not in PROD_ENV}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_check_deploy_passes_with_the_documented_production_variables():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=PROD_ENV)

    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    "missing",
    ["SECRET_KEY", "DATABASE_URL", "ALLOWED_HOSTS", "FIELD_ENCRYPTION_KEYS", "REDIS_URL", "RISK_FINGERPRINT_KEY"],
)
def test_production_refuses_to_start_without(missing):
    env = {key: value for key, value in PROD_ENV.items() if key != missing}

    result = run_manage("check", env=env)

    assert result.returncode != 0
    assert missing in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("empty", ["ALLOWED_HOSTS", "FIELD_ENCRYPTION_KEYS"])
def test_production_refuses_empty_lists(empty):
    result = run_manage("check", env={**PROD_ENV, empty: ""})

    assert result.returncode != 0
    assert empty in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("FIELD_ENCRYPTION_KEYS", SHIPPED_FIELD_KEY),
        # A fresh key first, the shipped one second (named by id: xdist workers must collect alike).
        pytest.param(
            "FIELD_ENCRYPTION_KEYS", f"{Fernet.generate_key().decode()},{SHIPPED_FIELD_KEY}", id="fresh-then-shipped"
        ),
        ("SECRET_KEY", "dev-insecure-0Zq8m5yF6v3w0N1c9kX2pR7tL4hB8sJ1dG5eA3uV9iQ"),
        ("SECRET_KEY", "short"),
        ("METRICS_TOKEN", "Bearer-token-written-in-a-doc"),
    ],
)
def test_production_refuses_a_secret_that_ships_in_the_repository(name, value):
    # "Bearer-token-written-in-a-doc" is in this file: it ships with the repository.
    result = run_manage("check", "--deploy", env={**PROD_ENV, name: value})

    assert result.returncode != 0
    assert name in result.stderr and "ships in the repository" in result.stderr


PROBE = """
import json
import django
from django.apps import apps
from django.urls import get_resolver

django.setup()
from apps.accounts.roles import role_permissions
from django.db.migrations.loader import MigrationLoader

routes = [str(pattern.pattern) for pattern in get_resolver().url_patterns]
print(json.dumps({
    "installed": sorted(config.name for config in apps.get_app_configs() if config.name.startswith("apps.")),
    "routes": routes,
    "migrated_apps": sorted({app for app, _ in MigrationLoader(None, ignore_no_migrations=True).disk_migrations}),
    "ops_permissions": role_permissions()["Ops"],
}))
"""


@pytest.mark.slow
def test_production_neither_installs_nor_migrates_nor_routes_the_dev_only_apps():
    clean = {key: value for key, value in os.environ.items() if key not in PROD_ENV}
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env={**clean, **PROD_ENV}, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    import json

    probe = json.loads(result.stdout.strip().splitlines()[-1])
    dev_only = {"apps.sandbox", "apps.demo", "apps.bench"}
    assert dev_only.isdisjoint(probe["installed"]), probe["installed"]
    assert not {"sandbox", "demo", "bench"} & set(probe["migrated_apps"])
    assert not [route for route in probe["routes"] if route.startswith(("sandbox/", "api/v1/bench/", "store/"))]
    assert not [name for name in probe["ops_permissions"] if name.startswith("sandbox.")]
