from __future__ import annotations


class LedgerUnbalanced(ValueError):
    """A journal entry whose postings do not sum to zero (a programming error: never caught)."""
