"""The Authorize.Net sandbox's state: accounts, transactions and batches, CIM profiles, ARB
subscriptions, Accept.js nonces and webhooks."""

from __future__ import annotations

from django.db import models

from .common import SandboxNotification

ANET_TRANS_ID_OFFSET = 40_000_000_000


class AnetAccount(models.Model):
    """A merchant account at the Authorize.Net sandbox (what the merchant's credentials open)."""

    api_login_id = models.CharField(max_length=25, unique=True)
    transaction_key = models.CharField(max_length=16)
    signature_key = models.CharField(max_length=128, blank=True)
    currency = models.CharField(max_length=3, default="USD")
    duplicate_window_seconds = models.PositiveIntegerField(default=120)
    # eCheck.Net's Expanded Credit Capabilities: refunds to a bank account with no debit behind
    # them (the sample credit-bank-account script). Off unless the account applied for it.
    unlinked_credits = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "Authorize.Net sandbox account"

    def __str__(self) -> str:
        return self.api_login_id


class AnetBatch(models.Model):
    account = models.ForeignKey(AnetAccount, on_delete=models.CASCADE, related_name="batches")
    settled_at = models.DateTimeField()
    # The batch's statistics per account type, fixed at settlement as the real gateway's are
    # (apps.sandbox.authorizenet.statistics); empty for batches settled before they were kept.
    statistics = models.JSONField(default=list, blank=True)
    # eCheck batches settle apart from card batches (batchDetailsType.paymentMethod).
    payment_method = models.CharField(max_length=12, default="creditCard")

    class Meta:
        verbose_name = "Authorize.Net sandbox batch"
        verbose_name_plural = "Authorize.Net sandbox batches"

    def __str__(self) -> str:
        return f"batch {self.batch_id}"

    @property
    def batch_id(self) -> str:
        return str(10_000_000 + self.pk)


class AnetTransaction(models.Model):
    class Status(models.TextChoices):
        AUTHORIZED = "authorizedPendingCapture"
        CAPTURED = "capturedPendingSettlement"
        SETTLED = "settledSuccessfully"
        VOIDED = "voided"
        DECLINED = "declined"
        REFUND_PENDING = "refundPendingSettlement"
        REFUND_SETTLED = "refundSettledSuccessfully"
        GENERAL_ERROR = "generalError"
        RETURNED = "returnedItem"

    account = models.ForeignKey(AnetAccount, on_delete=models.CASCADE, related_name="transactions")
    transaction_type = models.CharField(max_length=40)
    status = models.CharField(max_length=40, choices=Status.choices)
    response_code = models.CharField(max_length=2)
    reason_code = models.CharField(max_length=5)
    reason_text = models.CharField(max_length=255)
    auth_amount = models.BigIntegerField(default=0)  # minor units
    settle_amount = models.BigIntegerField(default=0)
    currency = models.CharField(max_length=3)
    card_type = models.CharField(max_length=20, blank=True)
    card_last4 = models.CharField(max_length=4, blank=True)
    card_fingerprint = models.CharField(max_length=64, blank=True)
    expiration = models.CharField(max_length=7, blank=True)  # "2030-12", kept to mimic the reports
    invoice_number = models.CharField(max_length=20, blank=True, db_index=True)
    description = models.CharField(max_length=255, blank=True)
    ref_id = models.CharField(max_length=20, blank=True)
    customer_email = models.CharField(max_length=255, blank=True)
    first_name = models.CharField(max_length=50, blank=True)
    last_name = models.CharField(max_length=50, blank=True)
    auth_code = models.CharField(max_length=6, blank=True)
    avs_code = models.CharField(max_length=1, blank=True)
    cvv_code = models.CharField(max_length=1, blank=True)
    original = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="refunds")
    batch = models.ForeignKey(AnetBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="transactions")
    # A charge of a saved card (CIM): the profile ids, as getTransactionDetails reports them.
    customer_profile_id = models.CharField(max_length=20, blank=True)
    payment_profile_id = models.CharField(max_length=20, blank=True)
    # A charge made by an ARB subscription's schedule: its id and payment number.
    subscription_id = models.CharField(max_length=20, blank=True)
    subscription_pay_num = models.PositiveIntegerField(null=True, blank=True)
    # Discrepancy injection: the nightly settlement leaves this transaction out.
    held_from_settlement = models.BooleanField(default=False)
    # eCheck (card_type "eCheck"; card_last4 and card_fingerprint then hold the bank account's):
    # the routing number's last four and what reports show, never the numbers themselves.
    bank_account_type = models.CharField(max_length=20, blank=True)
    bank_routing_last4 = models.CharField(max_length=4, blank=True)
    name_on_account = models.CharField(max_length=22, blank=True)
    echeck_type = models.CharField(max_length=3, blank=True)
    # A returned debit (NACHA code and text): returned_at and return_batch once returned; a
    # return scheduled by a test trigger counts down settlement runs in return_after_runs.
    return_code = models.CharField(max_length=3, blank=True)
    return_description = models.CharField(max_length=255, blank=True)
    return_after_runs = models.PositiveSmallIntegerField(null=True, blank=True)
    returned_at = models.DateTimeField(null=True, blank=True)
    return_batch = models.ForeignKey(
        AnetBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="returned_transactions"
    )
    submitted_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = "Authorize.Net sandbox transaction"
        indexes = [
            models.Index(fields=["account", "status"], name="sandbox_anet_status_idx"),
            models.Index(fields=["account", "card_fingerprint", "submitted_at"], name="sandbox_anet_duplicate_idx"),
        ]
        constraints = [
            # An ARB schedule charges each of its payments once.
            models.UniqueConstraint(
                fields=["account", "subscription_id", "subscription_pay_num"],
                condition=~models.Q(subscription_id=""),
                name="sandbox_anet_arb_payment_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.trans_id} {self.transaction_type} {self.status}"

    @property
    def trans_id(self) -> str:
        return str(ANET_TRANS_ID_OFFSET + self.pk)

    @staticmethod
    def pk_from_trans_id(trans_id: str) -> int | None:
        try:
            value = int(trans_id) - ANET_TRANS_ID_OFFSET
        except (TypeError, ValueError):
            return None
        return value if value > 0 else None


ANET_PROFILE_ID_OFFSET = 500_000_000
ANET_PAYMENT_PROFILE_ID_OFFSET = 600_000_000


class AnetCustomerProfile(models.Model):
    """A customer profile in the sandbox's vault (CIM)."""

    account = models.ForeignKey(AnetAccount, on_delete=models.CASCADE, related_name="customer_profiles")
    merchant_customer_id = models.CharField(max_length=20, blank=True)
    email = models.CharField(max_length=255, blank=True)
    description = models.CharField(max_length=255, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "Authorize.Net sandbox customer profile"
        indexes = [models.Index(fields=["account", "merchant_customer_id"], name="sandbox_anet_profile_mcid_idx")]

    def __str__(self) -> str:
        return f"profile {self.profile_id}"

    @property
    def profile_id(self) -> str:
        return str(ANET_PROFILE_ID_OFFSET + self.pk)

    @staticmethod
    def pk_from_id(profile_id: str) -> int | None:
        try:
            value = int(profile_id) - ANET_PROFILE_ID_OFFSET
        except (TypeError, ValueError):
            return None
        return value if value > 0 else None


class AnetPaymentProfile(models.Model):
    """A card saved on a customer profile: brand, last four, a keyed fingerprint and the expiry,
    never the number. `declining` is the sandbox's test switch: its charges are declined."""

    customer_profile = models.ForeignKey(AnetCustomerProfile, on_delete=models.CASCADE, related_name="payment_profiles")
    card_type = models.CharField(max_length=20)
    card_last4 = models.CharField(max_length=4)
    card_fingerprint = models.CharField(max_length=64)
    expiration = models.CharField(max_length=7)
    known_test_card = models.BooleanField(default=True)
    amount_trigger = models.BooleanField(default=False)
    first_name = models.CharField(max_length=50, blank=True)
    last_name = models.CharField(max_length=50, blank=True)
    zip = models.CharField(max_length=20, blank=True)
    # The rest of the billing address (billTo), as the real service keeps and returns it.
    company = models.CharField(max_length=50, blank=True)
    address = models.CharField(max_length=60, blank=True)
    city = models.CharField(max_length=40, blank=True)
    state = models.CharField(max_length=40, blank=True)
    country = models.CharField(max_length=60, blank=True)
    phone_number = models.CharField(max_length=25, blank=True)
    is_default = models.BooleanField(default=False)
    declining = models.BooleanField(default=False)
    deleted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "Authorize.Net sandbox payment profile"

    def __str__(self) -> str:
        return f"payment profile {self.payment_profile_id} {self.card_type} {self.card_last4}"

    @property
    def payment_profile_id(self) -> str:
        return str(ANET_PAYMENT_PROFILE_ID_OFFSET + self.pk)

    @staticmethod
    def pk_from_id(payment_profile_id: str) -> int | None:
        try:
            value = int(payment_profile_id) - ANET_PAYMENT_PROFILE_ID_OFFSET
        except (TypeError, ValueError):
            return None
        return value if value > 0 else None


ANET_SHIPPING_ADDRESS_ID_OFFSET = 800_000_000


class AnetShippingAddress(models.Model):
    """A shipping address on a customer profile (CIM shipToList)."""

    customer_profile = models.ForeignKey(
        AnetCustomerProfile, on_delete=models.CASCADE, related_name="shipping_addresses"
    )
    first_name = models.CharField(max_length=50, blank=True)
    last_name = models.CharField(max_length=50, blank=True)
    company = models.CharField(max_length=50, blank=True)
    address = models.CharField(max_length=60, blank=True)
    city = models.CharField(max_length=40, blank=True)
    state = models.CharField(max_length=40, blank=True)
    zip = models.CharField(max_length=20, blank=True)
    country = models.CharField(max_length=60, blank=True)
    phone_number = models.CharField(max_length=25, blank=True)
    fax_number = models.CharField(max_length=25, blank=True)
    email = models.CharField(max_length=255, blank=True)
    is_default = models.BooleanField(default=False)
    deleted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "Authorize.Net sandbox shipping address"

    def __str__(self) -> str:
        return f"shipping address {self.address_id}"

    @property
    def address_id(self) -> str:
        return str(ANET_SHIPPING_ADDRESS_ID_OFFSET + self.pk)

    @staticmethod
    def pk_from_id(address_id: str) -> int | None:
        try:
            value = int(address_id) - ANET_SHIPPING_ADDRESS_ID_OFFSET
        except (TypeError, ValueError):
            return None
        return value if value > 0 else None


ANET_SUBSCRIPTION_ID_OFFSET = 7_000_000


class AnetSubscription(models.Model):
    """An ARB subscription: the sandbox's own schedule charges the saved card (`arb_run`)."""

    class Status(models.TextChoices):
        ACTIVE = "active"
        EXPIRED = "expired"
        SUSPENDED = "suspended"
        CANCELED = "canceled"
        TERMINATED = "terminated"

    account = models.ForeignKey(AnetAccount, on_delete=models.CASCADE, related_name="subscriptions")
    name = models.CharField(max_length=50, blank=True)
    interval_length = models.PositiveSmallIntegerField()
    interval_unit = models.CharField(max_length=6)  # days | months
    start_date = models.DateField()
    total_occurrences = models.PositiveIntegerField()
    trial_occurrences = models.PositiveIntegerField(default=0)
    amount = models.BigIntegerField()  # minor units
    trial_amount = models.BigIntegerField(default=0)
    currency = models.CharField(max_length=3)
    customer_profile_id = models.CharField(max_length=20)
    payment_profile_id = models.CharField(max_length=20)
    invoice_number = models.CharField(max_length=20, blank=True)
    # billTo's name, as ARBGetSubscriptionList reports it.
    first_name = models.CharField(max_length=50, blank=True)
    last_name = models.CharField(max_length=50, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    # Past occurrences (ARB's pastOccurrences): charged, declined, or a $0 trial not charged.
    payments_made = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "Authorize.Net sandbox ARB subscription"

    def __str__(self) -> str:
        return f"ARB {self.subscription_id} {self.status}"

    @property
    def subscription_id(self) -> str:
        return str(ANET_SUBSCRIPTION_ID_OFFSET + self.pk)

    @staticmethod
    def pk_from_id(subscription_id: str) -> int | None:
        try:
            value = int(subscription_id) - ANET_SUBSCRIPTION_ID_OFFSET
        except (TypeError, ValueError):
            return None
        return value if value > 0 else None


class AnetPaymentNonce(models.Model):
    """An Accept.js opaqueData token minted by the sandbox's dispatchData stand-in.

    Holds what the sandbox needs to decide the charge, never the card number itself.
    """

    value = models.CharField(max_length=64, unique=True)
    card_type = models.CharField(max_length=20)
    card_last4 = models.CharField(max_length=4)
    card_fingerprint = models.CharField(max_length=64)
    card_valid = models.BooleanField()
    expiration = models.CharField(max_length=7)
    cvv_code = models.CharField(max_length=1, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"nonce …{self.card_last4}"


class AnetWebhook(models.Model):
    """A webhook registered at the Authorize.Net sandbox (the merchant interface's Webhooks page)."""

    account = models.ForeignKey(AnetAccount, on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(max_length=2000)
    event_types = models.JSONField(default=list, help_text="Empty: every event type")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "Authorize.Net sandbox webhook"

    def __str__(self) -> str:
        return self.url

    def wants(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types


class AnetNotification(SandboxNotification):
    """One notification for one webhook, delivered at least once (possibly more: see faults)."""

    webhook = models.ForeignKey(AnetWebhook, on_delete=models.CASCADE, related_name="notifications")
    notification_id = models.UUIDField()
    event_type = models.CharField(max_length=100)
    body = models.BinaryField()

    class Meta:
        verbose_name = "Authorize.Net sandbox notification"

    def __str__(self) -> str:
        return f"{self.event_type} {self.notification_id}"
