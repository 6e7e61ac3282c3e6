"""Staff roles as Django groups, declared here and applied by `setup_roles` (also after migrate).

Each later feature adds its permissions to the roles that may use it. A role gets exactly the
permissions listed: `setup_roles` adds what is missing and removes what is not declared.
"""

from __future__ import annotations

from django.apps import apps

FINANCE_VIEWER = "Finance viewer"
FINANCE_OPERATOR = "Finance operator"
FINANCE_APPROVER = "Finance approver"
OPS = "Ops"
AUDITOR = "Auditor"
RISK = "Risk analyst"

_FINANCE_READ = [
    "merchants.view_merchant",
    "webhooks.view_incomingwebhook",
    "payments.view_payment",
    "payments.view_refund",
    "customers.view_customer",
    "payments.view_gatewaytransaction",
    "customers.view_paymentmethod",
    "subscriptions.view_plan",
    "subscriptions.view_subscription",
    "subscriptions.view_pastduesubscription",
    "subscriptions.view_invoice",
    "subscriptions.view_billingattempt",
    "ledger.view_ledgeraccount",
    "ledger.view_journalentry",
    "ledger.view_posting",
    "reconciliation.view_settlementbatch",
    "reconciliation.view_settlementline",
    "reconciliation.view_discrepancy",
    "reconciliation.view_reconciliationrun",
    # The close-the-day pages (/admin/day-close/): every day's figures and who closed it.
    "reports.view_dayclose",
]
# The fraud/risk rules and the allow/block lists (apps/risk).
_RISK_READ = ["risk.view_rule", "risk.view_listentry", "risk.view_rulechange", "payments.view_paymentunderreview"]
# Subscription operations: cancel, pause and resume, retry a payment now.
_SUBSCRIPTION_OPERATIONS = [
    "subscriptions.cancel_subscription",
    "subscriptions.pause_subscription",
    "subscriptions.retry_subscription_payment",
]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    # Reads money records and reports; changes nothing.
    FINANCE_VIEWER: [*_FINANCE_READ],
    # Day-to-day money operations: capture, void, request refunds (which then need an approver).
    FINANCE_OPERATOR: [
        *_FINANCE_READ,
        "payments.capture_payment",
        "payments.void_payment",
        "payments.refund_payment",
        *_SUBSCRIPTION_OPERATIONS,
        # Works the discrepancy queue: assign, resolve; write-offs need an approver.
        "reconciliation.change_discrepancy",
        "reconciliation.resolve_discrepancy",
        # Uploads settlement reports and keeps their column mappings.
        "reconciliation.upload_settlement",
        "reconciliation.view_csvmapping",
        "reconciliation.add_csvmapping",
        "reconciliation.change_csvmapping",
        # Fetches and reconciles settlements on demand (a range of days, in the background).
        "reconciliation.run_reconciliation",
    ],
    # Approves what operators request (maker-checker); never their own requests.
    FINANCE_APPROVER: [
        *_FINANCE_READ,
        "payments.refund_payment",
        "payments.approve_refund",
        "reconciliation.change_discrepancy",
        "reconciliation.resolve_discrepancy",
        "reconciliation.approve_writeoff",
        "reconciliation.run_reconciliation",
        # Closes a day of a gateway account (its figures stored, what is open carried forward).
        "reports.close_day",
        # The audit trail of finance objects only (payments, refunds, discrepancies and their
        # write-offs, settlement batches, journal entries); the Auditor sees all of it.
        "audit.view_finance_auditevent",
    ],
    # Runs the system: merchants, API keys, workers and (later) webhook replays.
    OPS: [
        "merchants.view_merchant",
        "merchants.add_merchant",
        "merchants.change_merchant",
        "merchants.view_apikey",
        "merchants.add_apikey",
        "merchants.revoke_apikey",
        "core.view_workerheartbeat",
        "gateways.view_gatewayaccount",
        "gateways.add_gatewayaccount",
        "gateways.change_gatewayaccount",
        "payments.view_payment",
        "payments.view_gatewaytransaction",
        "webhooks.view_incomingwebhook",
        "webhooks.replay_incomingwebhook",
        "events.view_event",
        "events.view_webhookendpoint",
        "events.view_webhookdelivery",
        "events.resend_webhookdelivery",
    ],
    # Reads everything that explains who did what; changes nothing.
    AUDITOR: [
        "audit.view_auditevent",
        "merchants.view_merchant",
        "merchants.view_apikey",
        "auth.view_user",
        "auth.view_group",
        *_FINANCE_READ,
        "gateways.view_gatewayaccount",
        "events.view_event",
        "events.view_webhookdelivery",
        *_RISK_READ,
    ],
    # Keeps the fraud rules and the allow/block lists; every change is audited by the services.
    RISK: [
        *_RISK_READ,
        "risk.add_rule",
        "risk.change_rule",
        "risk.delete_rule",
        # A change that touches a live rule is a proposal; another analyst approves it (never the proposer).
        "risk.add_rulechange",
        "risk.approve_rulechange",
        "risk.add_listentry",
        "risk.change_listentry",
        "risk.delete_listentry",
        # Works the review queue: held payments approved (captured) or rejected (voided).
        "payments.view_payment",
        "payments.view_paymentunderreview",
        "payments.review_payment",
        "customers.view_customer",
    ],
}

ALL_ROLES = list(ROLE_PERMISSIONS)

# Where the gateway sandboxes are installed (dev, test), Ops also inspects them and injects faults.
SANDBOX_OPS_PERMISSIONS = [
    "sandbox.view_anetaccount",
    "sandbox.view_anettransaction",
    "sandbox.add_sandboxfault",
    "sandbox.view_sandboxfault",
]


def role_permissions() -> dict[str, list[str]]:
    """Each role's permissions on this installation (production has no sandbox)."""
    roles = {role: list(names) for role, names in ROLE_PERMISSIONS.items()}
    if apps.is_installed("apps.sandbox"):
        roles[OPS] = [*roles[OPS], *SANDBOX_OPS_PERMISSIONS]
    return roles
