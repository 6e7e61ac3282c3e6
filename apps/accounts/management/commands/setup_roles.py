from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from apps.accounts.services import roles_setup
from apps.audit.actors import Actor


class Command(BaseCommand):
    help = "Create or update the staff role groups to hold exactly their declared permissions."

    def handle(self, *args: Any, **options: Any) -> None:
        changes = roles_setup(actor=Actor.system("setup_roles"))
        if not changes:
            self.stdout.write("Roles already up to date.")
        for role, diff in changes.items():
            self.stdout.write(f"{role}: {' '.join(diff) or 'created'}")
