"""Database connections: production's psycopg pool really serves queries, and nothing else keeps a
connection between requests (runserver opened one per request thread and leaked them)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings as django_settings
from django.db import connection

from tests.core.test_settings import PROD_ENV, ROOT

PROBE = """
import json
import django
django.setup()
from django.db import connection
from django.conf import settings
for _ in range(3):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    connection.close()  # back to the pool, not closed
print(json.dumps({"pool": settings.DATABASES["default"]["OPTIONS"].get("pool"),
                  "conn_max_age": settings.DATABASES["default"]["CONN_MAX_AGE"],
                  "pooled": connection.pool is not None}))
"""


@pytest.mark.slow
@pytest.mark.django_db
def test_production_serves_queries_from_a_bounded_pool():
    database = connection.settings_dict
    url = (
        f"postgres://{database['USER']}@{database['HOST'] or '127.0.0.1'}:{database['PORT'] or 5432}/{database['NAME']}"
    )
    env = {key: value for key, value in os.environ.items() if key not in PROD_ENV}
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env={**env, **PROD_ENV, "DATABASE_URL": url, "DB_POOL_MAX_SIZE": "4"},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    probe = json.loads(result.stdout.strip().splitlines()[-1])
    assert probe["pooled"] is True and probe["conn_max_age"] == 0
    assert probe["pool"]["max_size"] == 4


def test_outside_production_no_connection_is_kept_between_requests():
    assert django_settings.DATABASES["default"]["CONN_MAX_AGE"] == 0
    assert "pool" not in django_settings.DATABASES["default"]["OPTIONS"]
