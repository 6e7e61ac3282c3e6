from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.audit.actors import Actor
from apps.sandbox.anet_samples import FOLDERS, Account, SampleRunner, table
from apps.sandbox.authorizenet.arb import arb_run
from apps.sandbox.models import AnetAccount
from apps.sandbox.services import anet_account_create, anet_settle


class Command(BaseCommand):
    help = (
        "Run Authorize.Net's public sample scripts (a checkout of github.com/AuthorizeNet/sample-code-python) "
        f"unmodified against the running Authorize.Net sandbox, folders {', '.join(FOLDERS)}; print each "
        "script's outcome and a table per folder. Exits 1 if any script crashed or got an undocumented error."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("samples", type=Path, help="The folder of the sample-code-python checkout")
        parser.add_argument("--endpoint", default=settings.AUTHORIZENET_TEST_ENDPOINT, help="The sandbox's XML API URL")
        parser.add_argument("--only", action="append", default=[], help="A folder or script (repeatable)")

    def handle(self, *args: Any, **options: Any) -> None:
        samples: Path = options["samples"]
        if not all((samples / folder).is_dir() for folder in FOLDERS):
            raise CommandError(f"{samples} is not a checkout of sample-code-python (no {', '.join(FOLDERS)})")
        login = f"samples{secrets.token_hex(3)}"
        account = anet_account_create(api_login_id=login)
        # Several scripts charge the same card the same amount one after another, which the
        # duplicate window would refuse (reason 11); credit-bank-account.py needs unlinked credits
        # (Authorize.Net's Expanded Credit Capabilities).
        account.duplicate_window_seconds = 0
        account.unlinked_credits = True
        account.save(update_fields=["duplicate_window_seconds", "unlinked_credits"])

        def settle() -> None:
            anet_settle(account=AnetAccount.objects.get(pk=account.pk), actor=Actor.system("sandbox_anet_samples"))

        def bill() -> None:
            arb_run()

        runner = SampleRunner(
            samples, options["endpoint"], Account(login, account.transaction_key), settle=settle, bill=bill
        )
        results = runner.run(options["only"])
        for result in results:
            said = "; ".join(f"{code} {text}".strip() for code, text in zip(result.codes, result.texts, strict=False))
            said = said or "; ".join(result.texts)
            self.stdout.write(f"{result.outcome:10} {result.script}  {said}")
        self.stdout.write("\n" + table(results))
        if any(result.outcome not in ("pass", "documented", "python 2") for result in results):
            raise SystemExit(1)
