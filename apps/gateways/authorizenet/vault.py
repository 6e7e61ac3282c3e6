"""Saved cards (Customer Information Manager) and schedules the gateway runs (ARB)."""

from __future__ import annotations

import re
from datetime import datetime

from authorizenet import apicontractsv1, apicontrollers

from apps.core.money import to_minor
from apps.gateways.base import (
    Billing,
    Card,
    GatewayResult,
    OpaqueToken,
    Outcome,
    RecurringCharge,
    RecurringRequest,
    RecurringSchedule,
    RecurringStatus,
    StoredCard,
    VaultCustomerRequest,
)
from apps.gateways.errors import GatewayDeclined, GatewayMisconfigured

from .client import AuthorizeNetClient, address_of, payment_of
from .vocabulary import (
    INVALID_TOKEN_API_CODES,
    NOT_FOUND_API_CODES,
    all_of,
    brand,
    child,
    decline_code,
    first_message,
    text,
)
from .vocabulary import recurring_status as status_in_our_words

_EXISTING_ID = re.compile(r"ID (\d+)")
_EXISTING_SUBSCRIPTION = re.compile(r"Subscription (\d+)")


class Vault(AuthorizeNetClient):
    def vault_customer_create(self, request: VaultCustomerRequest) -> str:
        profile = apicontractsv1.customerProfileType()
        profile.merchantCustomerId = self._reference(request.reference)
        if request.email:
            profile.email = request.email[:255]
        if request.description:
            profile.description = request.description[:255]
        call = apicontractsv1.createCustomerProfileRequest()
        call.profile = profile
        call.validationMode = "none"
        response = self._execute(apicontrollers.createCustomerProfileController, call, writes=True)
        if self._ok(response):
            return text(response, "customerProfileId")
        code, said = first_message(response)
        existing = _EXISTING_ID.search(said)
        if code == "E00039" and existing:  # this reference already has a profile: a retry
            return existing.group(1)
        self._api_error(response)
        raise AssertionError("unreachable")  # pragma: no cover - _api_error always raises

    def vault_customer_delete(self, customer_token: str) -> None:
        call = apicontractsv1.deleteCustomerProfileRequest()
        call.customerProfileId = customer_token
        response = self._execute(apicontrollers.deleteCustomerProfileController, call, writes=True)
        if not self._ok(response) and first_message(response)[0] not in NOT_FOUND_API_CODES:
            self._api_error(response)

    def vault_card_add(
        self,
        *,
        customer_token: str,
        payment: Card | OpaqueToken,
        billing: Billing,
        validate: bool = True,
        return_url: str = "",
        reference: str = "",
    ) -> StoredCard:
        profile = apicontractsv1.customerPaymentProfileType()
        address = address_of(billing)
        if address is not None:
            profile.billTo = address
        profile.payment = payment_of(payment)
        call = apicontractsv1.createCustomerPaymentProfileRequest()
        call.customerProfileId = customer_token
        call.paymentProfile = profile
        call.validationMode = "testMode" if validate else "none"
        response = self._execute(apicontrollers.createCustomerPaymentProfileController, call, writes=True)
        token = text(response, "customerPaymentProfileId")
        code, said = first_message(response)
        if not self._ok(response) and not (code == "E00039" and token):
            direct = text(response, "validationDirectResponse").split(",")
            if code == "E00027" and len(direct) > 3:
                reason = direct[2]
                raise GatewayDeclined(
                    GatewayResult(
                        outcome=Outcome.DECLINED,
                        transaction_id="",
                        response_code=direct[0],
                        reason_code=reason,
                        message=direct[3] or said,
                        decline_code=decline_code(reason, "card_declined"),
                    )
                )
            if code in INVALID_TOKEN_API_CODES:  # the customer's Accept.js token: a card error, as on a charge
                raise GatewayDeclined(
                    GatewayResult(
                        outcome=Outcome.DECLINED,
                        transaction_id="",
                        response_code="3",
                        reason_code=code,
                        message=said,
                        decline_code="invalid_card_number",
                    )
                )
            if code == "E00039":  # a duplicate card whose id the gateway did not give: look it up
                raise GatewayMisconfigured(f"{code}: {said}", reason_code=code)
            self._api_error(response)
        return self.vault_card_get(customer_token, token)

    def vault_card_setup_result(self, setup_id: str) -> StoredCard:
        raise GatewayMisconfigured(f"Authorize.Net has no card setups awaiting authentication ({setup_id[:40]})")

    def vault_card_get(self, customer_token: str, payment_token: str) -> StoredCard:
        call = apicontractsv1.getCustomerPaymentProfileRequest()
        call.customerProfileId = customer_token
        call.customerPaymentProfileId = payment_token
        call.unmaskExpirationDate = True
        response = self._execute(apicontrollers.getCustomerPaymentProfileController, call, writes=False)
        profile = child(response, "paymentProfile")
        if not self._ok(response) or profile is None:
            self._api_error(response)
        card_type = text(profile, "payment", "creditCard", "cardType")
        expiry = text(profile, "payment", "creditCard", "expirationDate")
        year, _, month = expiry.partition("-")
        known = year.isdigit() and month.isdigit()
        return StoredCard(
            customer_token=customer_token,
            payment_token=payment_token,
            card_brand=brand(card_type),
            card_last4=text(profile, "payment", "creditCard", "cardNumber")[-4:],
            exp_month=int(month) if known else None,
            exp_year=int(year) if known else None,
        )

    def vault_card_delete(self, customer_token: str, payment_token: str) -> None:
        call = apicontractsv1.deleteCustomerPaymentProfileRequest()
        call.customerProfileId = customer_token
        call.customerPaymentProfileId = payment_token
        response = self._execute(apicontrollers.deleteCustomerPaymentProfileController, call, writes=True)
        if not self._ok(response) and first_message(response)[0] not in NOT_FOUND_API_CODES:
            self._api_error(response)


class Recurring(AuthorizeNetClient):
    def recurring_create(self, request: RecurringRequest) -> str:
        schedule = apicontractsv1.paymentScheduleType()
        interval = apicontractsv1.paymentScheduleTypeInterval()
        interval.length = request.interval_length
        interval.unit = request.interval_unit
        schedule.interval = interval
        schedule.startDate = request.start_date
        schedule.totalOccurrences = request.total_occurrences
        if request.trial_occurrences:
            schedule.trialOccurrences = request.trial_occurrences
        subscription = apicontractsv1.ARBSubscriptionType()
        subscription.name = request.name[:50]
        subscription.paymentSchedule = schedule
        subscription.amount = self._amount(request.amount, request.currency)
        if request.trial_occurrences:
            subscription.trialAmount = self._amount(request.trial_amount, request.currency)
        profile = apicontractsv1.customerProfileIdType()
        profile.customerProfileId = request.customer_token
        profile.customerPaymentProfileId = request.payment_token
        subscription.profile = profile
        order = apicontractsv1.orderType()
        order.invoiceNumber = self._reference(request.reference)
        subscription.order = order
        call = apicontractsv1.ARBCreateSubscriptionRequest()
        call.refId = request.reference
        call.subscription = subscription
        response = self._execute(apicontrollers.ARBCreateSubscriptionController, call, writes=True)
        if self._ok(response):
            return text(response, "subscriptionId")
        code, said = first_message(response)
        existing = _EXISTING_SUBSCRIPTION.search(said)
        if code == "E00012" and existing:  # the same request again: the subscription it made
            return existing.group(1)
        self._api_error(response)
        raise AssertionError("unreachable")  # pragma: no cover - _api_error always raises

    def recurring_cancel(self, recurring_id: str) -> None:
        call = apicontractsv1.ARBCancelSubscriptionRequest()
        call.subscriptionId = recurring_id
        response = self._execute(apicontrollers.ARBCancelSubscriptionController, call, writes=True)
        if not self._ok(response):
            self._api_error(response)

    def recurring_status(self, recurring_id: str) -> RecurringStatus:
        call = apicontractsv1.ARBGetSubscriptionStatusRequest()
        call.subscriptionId = recurring_id
        response = self._execute(apicontrollers.ARBGetSubscriptionStatusController, call, writes=False)
        if not self._ok(response):
            self._api_error(response)
        return status_in_our_words(text(response, "status"))

    def recurring_get(self, recurring_id: str) -> RecurringSchedule:
        call = apicontractsv1.ARBGetSubscriptionRequest()
        call.subscriptionId = recurring_id
        call.includeTransactions = True
        response = self._execute(apicontrollers.ARBGetSubscriptionController, call, writes=False)
        subscription = child(response, "subscription")
        if not self._ok(response) or subscription is None:
            self._api_error(response)
        charges = []
        for item in all_of(subscription, "arbTransactions", "arbTransaction"):
            submitted = text(item, "submitTimeUTC")
            charges.append(
                RecurringCharge(
                    transaction_id=text(item, "transId"),
                    pay_num=int(text(item, "payNum") or 0),
                    response=text(item, "response"),
                    submitted_at=datetime.fromisoformat(submitted.replace("Z", "+00:00")) if submitted else None,
                )
            )
        return RecurringSchedule(
            recurring_id=recurring_id,
            status=status_in_our_words(text(subscription, "status")),
            amount=to_minor(text(subscription, "amount") or "0", self.config.currency),
            currency=self.config.currency,
            name=text(subscription, "name"),
            charges=tuple(charges),
        )
