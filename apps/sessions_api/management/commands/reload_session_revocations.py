from __future__ import annotations

from typing import Any

import redis
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.sessions_api.revocations import revocations_reload


class Command(BaseCommand):
    help = (
        "Write every revoked customer session whose token has not expired from the database into Redis again: after a "
        "Redis failover or restore that may have lost recent revocations. Safe to run at any time."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.REDIS_URL:
            raise CommandError("REDIS_URL is not set: without Redis every token is checked against the database.")
        try:
            revoked = revocations_reload()
        except redis.RedisError as exc:
            raise CommandError(f"Redis cannot be reached: {exc}") from exc
        self.stdout.write(f"{len(revoked)} revoked session(s) written to Redis.")
