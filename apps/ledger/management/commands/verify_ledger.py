from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.core.money import format_amount
from apps.ledger.models import JournalEntry, Posting
from apps.ledger.selectors import account_balances, ledger_problems


class Command(BaseCommand):
    help = (
        "Check the ledger: every entry balances, the postings sum to zero, accounts match their "
        "entries, and every payment's captured and refunded amounts agree with its entries (exit 1 if not)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--balances", action="store_true", help="Also print each account's balance")

    def handle(self, *args: Any, **options: Any) -> None:
        problems = ledger_problems()
        if options["balances"]:
            for row in account_balances():
                self.stdout.write(
                    f"{row.gateway_account:<28} {row.kind:<12} {row.currency} "
                    f"debits {format_amount(row.debits, row.currency):>16} "
                    f"credits {format_amount(row.credits, row.currency):>16} "
                    f"balance {format_amount(row.natural_balance, row.currency):>16}"
                )
        if problems:
            for line in problems:
                self.stderr.write(line)
            raise CommandError(f"Ledger NOT sound: {len(problems)} problem(s) shown above")
        entries, postings = JournalEntry.objects.count(), Posting.objects.count()
        self.stdout.write(self.style.SUCCESS(f"Ledger OK: {entries} entries, {postings} postings, all balanced"))
