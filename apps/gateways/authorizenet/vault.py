"""Saved cards (Customer Information Manager) and schedules the gateway runs (ARB)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from authorizenet import apicontractsv1, apicontrollers

from apps.core.money import to_minor
from apps.gateways.base import Billing, Card, GatewayResult, OpaqueToken, Outcome, StoredCard, VaultCustomerRequest
from apps.gateways.errors import GatewayDeclined, GatewayMisconfigured, GatewayRetryable
from apps.gateways.recurring_interface import (
    RecurringCharge,
    RecurringListed,
    RecurringRequest,
    RecurringSchedule,
    RecurringStatus,
    RecurringUpdate,
)

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
LIST_PAGE_SIZE = 1000  # ARBGetSubscriptionList's largest page
LIST_ATTEMPTS = 5


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
        profile = self._payment_profile(customer_token, payment_token)
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

    def vault_card_update(
        self,
        *,
        customer_token: str,
        payment_token: str,
        exp_month: int | None = None,
        exp_year: int | None = None,
        billing: Billing | None = None,
        reference: str = "",
    ) -> StoredCard:
        """updateCustomerPaymentProfile replaces the whole payment profile: what is not changed is
        sent back as it is (the masked number keeps the stored card), and the changed card is
        checked with a validation authorisation (testMode)."""
        current = self._payment_profile(customer_token, payment_token)
        card = apicontractsv1.creditCardType()
        card.cardNumber = text(current, "payment", "creditCard", "cardNumber")
        expiry = text(current, "payment", "creditCard", "expirationDate")
        card.expirationDate = f"{exp_year:04d}-{exp_month:02d}" if exp_month and exp_year else expiry or "XXXX"
        profile = apicontractsv1.customerPaymentProfileExType()
        address = address_of(billing) if billing is not None else _address_kept(child(current, "billTo"))
        if address is not None:
            profile.billTo = address
        profile.payment = apicontractsv1.paymentType()
        profile.payment.creditCard = card
        if text(current, "defaultPaymentProfile") == "true":
            profile.defaultPaymentProfile = True
        profile.customerPaymentProfileId = payment_token
        call = apicontractsv1.updateCustomerPaymentProfileRequest()
        if reference:
            call.refId = self._reference(reference)
        call.customerProfileId = customer_token
        call.paymentProfile = profile
        call.validationMode = "testMode"
        response = self._execute(apicontrollers.updateCustomerPaymentProfileController, call, writes=True)
        if not self._ok(response):
            code, said = first_message(response)
            if code == "E00027":
                raise _validation_declined(text(response, "validationDirectResponse"), said)
            self._api_error(response)
        return self.vault_card_get(customer_token, payment_token)

    def _payment_profile(self, customer_token: str, payment_token: str) -> Any:
        call = apicontractsv1.getCustomerPaymentProfileRequest()
        call.customerProfileId = customer_token
        call.customerPaymentProfileId = payment_token
        call.unmaskExpirationDate = True
        response = self._execute(apicontrollers.getCustomerPaymentProfileController, call, writes=False)
        profile = child(response, "paymentProfile")
        if not self._ok(response) or profile is None:
            self._api_error(response)
        return profile

    def vault_card_from_transaction(
        self,
        *,
        transaction_id: str,
        customer_token: str = "",
        customer: VaultCustomerRequest | None = None,
        reference: str = "",
    ) -> StoredCard:
        """createCustomerProfileFromTransaction: onto the customer's profile, or a new profile for
        `customer`. A duplicate profile (ours, made by a call whose answer was lost) gets the card
        added to it; a duplicate card answers with the card already saved."""
        call = apicontractsv1.createCustomerProfileFromTransactionRequest()
        if reference:
            call.refId = self._reference(reference)
        call.transId = transaction_id
        if customer_token:
            call.customerProfileId = customer_token
        elif customer is not None:
            profile = apicontractsv1.customerProfileBaseType()
            profile.merchantCustomerId = self._reference(customer.reference)
            if customer.email:
                profile.email = customer.email[:255]
            if customer.description:
                profile.description = customer.description[:255]
            call.customer = profile
        else:
            raise GatewayMisconfigured("A customer token or a new customer is needed to save a card")
        response = self._execute(apicontrollers.createCustomerProfileFromTransactionController, call, writes=True)
        profile_id = text(response, "customerProfileId")
        saved = all_of(response, "customerPaymentProfileIdList", "numericString")
        token = text(saved[0]) if saved else ""
        code, said = first_message(response)
        if profile_id and token and (self._ok(response) or code == "E00039"):
            return self.vault_card_get(profile_id, token)
        existing = _EXISTING_ID.search(said)
        if code == "E00039" and existing and not customer_token:
            return self.vault_card_from_transaction(
                transaction_id=transaction_id, customer_token=existing.group(1), reference=reference
            )
        self._api_error(response)
        raise AssertionError("unreachable")  # pragma: no cover - _api_error always raises


def _address_kept(bill_to: Any) -> Any:
    """The billTo a payment profile has, to send back unchanged (an update clears what it omits)."""
    if bill_to is None:
        return None
    address = apicontractsv1.customerAddressType()
    for name in ("firstName", "lastName", "company", "address", "city", "state", "zip", "country", "phoneNumber"):
        value = text(bill_to, name)
        if value:
            setattr(address, name, value)
    return address


def _validation_declined(direct_response: str, said: str) -> GatewayDeclined:
    """The refusal of a validation authorisation, from its comma-delimited direct response."""
    fields = direct_response.split(",")
    reason = fields[2] if len(fields) > 3 else ""
    return GatewayDeclined(
        GatewayResult(
            outcome=Outcome.DECLINED,
            transaction_id="",
            response_code=fields[0] if len(fields) > 3 else "2",
            reason_code=reason,
            message=(fields[3] if len(fields) > 3 else "") or said,
            decline_code=decline_code(reason, "card_declined"),
        )
    )


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

    def recurring_update(self, recurring_id: str, update: RecurringUpdate) -> None:
        subscription = apicontractsv1.ARBSubscriptionType()
        if update.name is not None:
            subscription.name = update.name[:50]
        if update.amount is not None:
            subscription.amount = self._amount(update.amount, update.currency)
        if update.payment_token:
            profile = apicontractsv1.customerProfileIdType()
            profile.customerProfileId = update.customer_token
            profile.customerPaymentProfileId = update.payment_token
            subscription.profile = profile
        call = apicontractsv1.ARBUpdateSubscriptionRequest()
        call.refId = self._reference(update.reference)
        call.subscriptionId = recurring_id
        call.subscription = subscription
        response = self._execute(apicontrollers.ARBUpdateSubscriptionController, call, writes=True)
        if not self._ok(response):
            self._api_error(response)

    def recurring_status(self, recurring_id: str) -> RecurringStatus:
        call = apicontractsv1.ARBGetSubscriptionStatusRequest()
        call.subscriptionId = recurring_id
        response = self._execute(apicontrollers.ARBGetSubscriptionStatusController, call, writes=False)
        if not self._ok(response):
            self._api_error(response)
        return status_in_our_words(text(response, "status"))

    def recurring_running(self) -> list[RecurringListed]:
        """ARBGetSubscriptionList: the active schedules, and the suspended among the inactive."""
        active = self._schedules_listed("subscriptionActive")
        suspended = [s for s in self._schedules_listed("subscriptionInactive") if s.status is RecurringStatus.SUSPENDED]
        return [*active, *suspended]

    def _schedules_listed(self, search_type: str) -> list[RecurringListed]:
        """Every page (LIST_PAGE_SIZE a page, oldest first; `offset` is the page's number). A
        schedule ending while the pages are read moves the later ones up and one would be missed:
        a list whose total changed meanwhile is read again, LIST_ATTEMPTS times at most."""
        for _ in range(LIST_ATTEMPTS):
            listed: list[RecurringListed] = []
            first_total, page = -1, 1
            while True:
                response = self._list_page(search_type, page)
                total = int(text(response, "totalNumInResultSet") or 0)
                if first_total not in (-1, total):
                    break  # changed while read: again
                first_total = total
                details = all_of(response, "subscriptionDetails", "subscriptionDetail")
                listed += [
                    RecurringListed(
                        recurring_id=text(detail, "id"),
                        status=status_in_our_words(text(detail, "status")),
                        reference=text(detail, "invoice"),
                        customer_token=text(detail, "customerProfileId"),
                    )
                    for detail in details
                ]
                if not details or page * LIST_PAGE_SIZE >= total:
                    return listed
                page += 1
        raise GatewayRetryable("The gateway's list of subscriptions kept changing while it was read.")

    def _list_page(self, search_type: str, page: int) -> Any:
        call = apicontractsv1.ARBGetSubscriptionListRequest()
        call.searchType = search_type
        call.sorting = apicontractsv1.ARBGetSubscriptionListSorting()
        call.sorting.orderBy, call.sorting.orderDescending = "id", False
        call.paging = apicontractsv1.Paging()
        call.paging.limit, call.paging.offset = LIST_PAGE_SIZE, page
        response = self._execute(apicontrollers.ARBGetSubscriptionListController, call, writes=False)
        if not self._ok(response):
            self._api_error(response)
        return response

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
            customer_token=text(subscription, "profile", "customerProfileId"),
            payment_token=text(subscription, "profile", "paymentProfile", "customerPaymentProfileId"),
        )
