"""What the payments app tells the apps built on it, sent after the fact (committed, outside any
transaction): a receiver's failure is logged and never undoes or blocks the payment's change."""

from __future__ import annotations

from django.dispatch import Signal

# Sent with `payment` once a review decision reached the gateway: captured after an approval,
# voided after a rejection or an expiry. The catalogue grants a held checkout's entitlement.
review_decision_carried = Signal()
