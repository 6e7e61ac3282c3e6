"""The Authorize.Net sandbox's customer profiles (CIM) beyond create/get/delete, through the official
SDK over HTTP: the request shapes of the public sample scripts (CustomerProfiles/*,
TransactionReporting/get-customer-profile-transaction-list.py) and the answers the real API gives."""

from __future__ import annotations

import json
import logging
from decimal import Decimal
from typing import Any

import pytest
from authorizenet import apicontractsv1, apicontrollers

from apps.gateways import http
from apps.gateways.authorizenet import client as _client  # noqa: F401 - routes the SDK through our transport
from apps.sandbox.models import AnetPaymentProfile, AnetShippingAddress, AnetTransaction

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sdk(anet_sandbox: Any, settings: Any, caplog: Any) -> Any:
    """Run one SDK controller against the sandbox; the answer must parse with the SDK's schema."""
    caplog.set_level(logging.ERROR)

    def call(controller_class: Any, request: Any, *, schema_valid: bool = True) -> Any:
        auth = apicontractsv1.merchantAuthenticationType()
        auth.name, auth.transactionKey = anet_sandbox.api_login_id, anet_sandbox.transaction_key
        request.merchantAuthentication = auth
        caplog.clear()
        with http.gateway_call(endpoint=settings.AUTHORIZENET_TEST_ENDPOINT, timeout=5):
            controller = controller_class(request)
            controller.execute()
            response = controller.getresponse()
        assert response is not None
        if schema_valid:
            assert "Create Document Exception" not in caplog.text
        return response

    return call


def code(response: Any) -> str:
    return str(response.messages.message[0]["code"].text)


def credit_card(number: str = "4111111111111111", expiry: str = "2030-12") -> Any:
    card = apicontractsv1.creditCardType()
    card.cardNumber, card.expirationDate = number, expiry
    payment = apicontractsv1.paymentType()
    payment.creditCard = card
    return payment


def fill(node: Any, /, **fields: str) -> Any:
    for name, value in fields.items():
        setattr(node, name, value)
    return node


def bill_to(**fields: str) -> Any:
    return fill(apicontractsv1.customerAddressType(), **fields)


def create_profile(sdk: Any, mcid: str = "cus1", number: str = "4111111111111111", expiry: str = "2030-12") -> Any:
    payment_profile = apicontractsv1.customerPaymentProfileType()
    payment_profile.billTo = bill_to(firstName="Ada", lastName="Lovelace", zip="10001")
    payment_profile.payment = credit_card(number, expiry)
    profile = apicontractsv1.customerProfileType()
    profile.merchantCustomerId, profile.email = mcid, f"{mcid}@example.com"
    profile.paymentProfiles = [payment_profile]
    request = apicontractsv1.createCustomerProfileRequest()
    request.profile, request.validationMode = profile, "testMode"
    response = sdk(apicontrollers.createCustomerProfileController, request)
    assert code(response) == "I00001"
    return str(response.customerProfileId), str(response.customerPaymentProfileIdList.numericString[0])


def get_payment_profile(sdk: Any, profile_id: str, payment_profile_id: str) -> Any:
    request = apicontractsv1.getCustomerPaymentProfileRequest()
    request.customerProfileId, request.customerPaymentProfileId = profile_id, payment_profile_id
    request.unmaskExpirationDate = True
    return sdk(apicontrollers.getCustomerPaymentProfileController, request)


def charge(sdk: Any, *, profile: tuple[str, str] | None = None, number: str = "", amount: str = "12.50") -> Any:
    transaction = apicontractsv1.transactionRequestType()
    transaction.transactionType, transaction.amount = "authCaptureTransaction", Decimal(amount)
    if profile is not None:
        payment_profile = apicontractsv1.paymentProfile()
        payment_profile.paymentProfileId = profile[1]
        charged = apicontractsv1.customerProfilePaymentType()
        charged.customerProfileId, charged.paymentProfile = profile[0], payment_profile
        transaction.profile = charged
    else:
        transaction.payment = credit_card(number)
        transaction.billTo = bill_to(firstName="Grace", lastName="Hopper", zip="10001")
    request = apicontractsv1.createTransactionRequest()
    request.transactionRequest = transaction
    return sdk(apicontrollers.createTransactionController, request)


def test_update_customer_profile_replaces_its_identity_and_refuses_a_duplicate(sdk):
    profile_id, _ = create_profile(sdk)
    other_id, _ = create_profile(sdk, mcid="cus2", number="5424000000000015")
    request = apicontractsv1.updateCustomerProfileRequest()
    request.profile = apicontractsv1.customerProfileExType()
    request.profile.customerProfileId = profile_id
    request.profile.merchantCustomerId = "mycustomer"
    request.profile.description = "john doe"
    request.profile.email = "email@email.com"

    updated = sdk(apicontrollers.updateCustomerProfileController, request)

    assert code(updated) == "I00001"
    read = apicontractsv1.getCustomerProfileRequest()
    read.customerProfileId = profile_id
    profile = sdk(apicontrollers.getCustomerProfileController, read, schema_valid=False).profile
    assert (str(profile.merchantCustomerId), str(profile.description), str(profile.email)) == (
        "mycustomer",
        "john doe",
        "email@email.com",
    )
    request.profile.customerProfileId = other_id  # the other profile, to the same identity
    duplicate = sdk(apicontrollers.updateCustomerProfileController, request)
    assert code(duplicate) == "E00039" and profile_id in str(duplicate.messages.message[0]["text"])
    request.profile.customerProfileId = "999"
    assert code(sdk(apicontrollers.updateCustomerProfileController, request)) == "E00040"


def test_update_payment_profile_keeps_the_stored_number_behind_the_masked_one(sdk):
    profile_id, payment_profile_id = create_profile(sdk)
    fingerprint = AnetPaymentProfile.objects.get().card_fingerprint
    payment_profile = apicontractsv1.customerPaymentProfileExType()
    payment_profile.billTo = bill_to(
        firstName="John", lastName="Doe", address="123 Main St.", city="Bellevue", state="WA", zip="98004",
        country="USA", phoneNumber="000-000-000",
    )  # fmt: skip
    payment_profile.payment = credit_card("XXXX1111", "2035-12")
    payment_profile.customerPaymentProfileId = payment_profile_id
    request = apicontractsv1.updateCustomerPaymentProfileRequest()
    request.customerProfileId, request.paymentProfile = profile_id, payment_profile
    request.validationMode = apicontractsv1.validationModeEnum.liveMode

    updated = sdk(apicontrollers.updateCustomerPaymentProfileController, request)

    assert code(updated) == "I00001"
    assert str(updated.validationDirectResponse).startswith("1,1,1,")
    saved = get_payment_profile(sdk, profile_id, payment_profile_id).paymentProfile
    assert (str(saved.payment.creditCard.cardNumber), str(saved.payment.creditCard.expirationDate)) == (
        "XXXX1111",
        "2035-12",
    )
    assert (str(saved.billTo.address), str(saved.billTo.city), str(saved.billTo.country)) == (
        "123 Main St.",
        "Bellevue",
        "USA",
    )
    assert AnetPaymentProfile.objects.get().card_fingerprint == fingerprint
    assert str(charge(sdk, profile=(profile_id, payment_profile_id)).transactionResponse.responseCode) == "1"


def test_update_payment_profile_with_the_sample_full_number_and_its_refusals(sdk):
    profile_id, payment_profile_id = create_profile(sdk)
    payment_profile = apicontractsv1.customerPaymentProfileExType()
    payment_profile.payment = credit_card("4111111111111111", "2035-12")
    payment_profile.customerPaymentProfileId = payment_profile_id
    request = apicontractsv1.updateCustomerPaymentProfileRequest()
    request.customerProfileId, request.paymentProfile = profile_id, payment_profile
    request.validationMode = "testMode"
    assert code(sdk(apicontrollers.updateCustomerPaymentProfileController, request)) == "I00001"

    before = list(AnetPaymentProfile.objects.values())
    refusals = []
    for number, expiry in (("XXXX0015", "2036-01"), ("XXXX1111", "13-2036"), ("XXXX1111", "2020-01")):
        payment_profile.payment = credit_card(number, expiry)
        refusals.append(sdk(apicontrollers.updateCustomerPaymentProfileController, request))
    payment_profile.customerPaymentProfileId = "600999999"
    refusals.append(sdk(apicontrollers.updateCustomerPaymentProfileController, request))

    assert [code(r) for r in refusals] == ["E00003", "E00003", "E00027", "E00040"]
    assert str(refusals[2].validationDirectResponse).startswith("3,1,8,")  # expired: nothing changed
    assert list(AnetPaymentProfile.objects.values()) == before
    kept = get_payment_profile(sdk, profile_id, payment_profile_id).paymentProfile
    assert str(kept.payment.creditCard.expirationDate) == "2035-12"


def test_validate_customer_payment_profile_answers_a_direct_response(sdk):
    profile_id, payment_profile_id = create_profile(sdk)
    request = apicontractsv1.validateCustomerPaymentProfileRequest()
    request.customerProfileId, request.customerPaymentProfileId = profile_id, payment_profile_id
    request.validationMode = "testMode"

    approved = sdk(apicontrollers.validateCustomerPaymentProfileController, request)
    AnetPaymentProfile.objects.update(zip="46282")  # the sandbox's declining ZIP
    declined = sdk(apicontrollers.validateCustomerPaymentProfileController, request)
    request.customerPaymentProfileId = "600999999"
    missing = sdk(apicontrollers.validateCustomerPaymentProfileController, request)

    assert (code(approved), str(approved.directResponse).split(",")[:3]) == ("I00001", ["1", "1", "1"])
    assert (code(declined), str(declined.directResponse).split(",")[:3]) == ("E00027", ["2", "1", "2"])
    assert code(missing) == "E00040"


def test_payment_profile_list_finds_cards_expiring_in_a_month_sorted_and_paged(sdk):
    ids = [create_profile(sdk, mcid=f"cus{n}", number=number, expiry=expiry)[1] for n, (number, expiry) in
           enumerate([("4111111111111111", "2030-12"), ("5424000000000015", "1230"), ("370000000000002", "2031-01")])]  # fmt: skip
    request = apicontractsv1.getCustomerPaymentProfileListRequest()
    request.refId = "ref1"
    request.paging = apicontractsv1.Paging()
    request.paging.limit, request.paging.offset = 10, 1
    request.sorting = apicontractsv1.CustomerPaymentProfileSorting()
    request.sorting.orderBy = apicontractsv1.CustomerPaymentProfileOrderFieldEnum.id
    request.sorting.orderDescending = "true"
    request.searchType = apicontractsv1.CustomerPaymentProfileSearchTypeEnum.cardsExpiringInMonth
    request.month = "2030-12"

    listed = sdk(apicontrollers.getCustomerPaymentProfileListController, request)
    request.paging.limit, request.paging.offset = 1, 2
    second_page = sdk(apicontrollers.getCustomerPaymentProfileListController, request)
    request.month = "2029-02"
    none = sdk(apicontrollers.getCustomerPaymentProfileListController, request)

    assert int(listed.totalNumInResultSet) == 2
    found = [str(p.customerPaymentProfileId) for p in listed.paymentProfiles.paymentProfile]
    assert found == [ids[1], ids[0]]  # descending ids; the Amex expires in another month
    assert str(listed.paymentProfiles.paymentProfile[0].payment.creditCard.cardNumber) == "XXXX0015"
    assert [str(p.customerPaymentProfileId) for p in second_page.paymentProfiles.paymentProfile] == [ids[0]]
    assert (int(second_page.totalNumInResultSet), int(none.totalNumInResultSet)) == (2, 0)


def test_customer_profile_ids_lists_every_live_profile(sdk):
    first, _ = create_profile(sdk)
    second, _ = create_profile(sdk, mcid="cus2", number="5424000000000015")
    gone = apicontractsv1.deleteCustomerProfileRequest()
    gone.customerProfileId = first
    sdk(apicontrollers.deleteCustomerProfileController, gone)
    request = apicontractsv1.getCustomerProfileIdsRequest()
    request.refId = "Sample"

    response = sdk(apicontrollers.getCustomerProfileIdsController, request)

    assert code(response) == "I00001"
    assert [str(value) for value in response.ids.numericString] == [second]


def test_shipping_addresses_are_created_read_updated_listed_and_deleted(sdk):
    profile_id, _ = create_profile(sdk)
    office = apicontractsv1.customerAddressType()
    fill(office, firstName="John", lastName="Doe", address="123 Main St.", city="Bellevue", state="WA", zip="98004",
         country="USA", phoneNumber="000-000-0000")  # fmt: skip
    create = apicontractsv1.createCustomerShippingAddressRequest()
    create.address, create.customerProfileId = office, profile_id

    created = sdk(apicontrollers.createCustomerShippingAddressController, create)
    duplicate = sdk(apicontrollers.createCustomerShippingAddressController, create)

    address_id = str(created.customerAddressId)
    assert (code(created), str(created.customerProfileId)) == ("I00001", profile_id)
    assert (code(duplicate), str(duplicate.customerAddressId)) == ("E00039", address_id)
    read = apicontractsv1.getCustomerShippingAddressRequest()
    read.customerProfileId, read.customerAddressId = profile_id, address_id
    got = sdk(apicontrollers.getCustomerShippingAddressController, read)
    assert (str(got.address.city), str(got.address.customerAddressId)) == ("Bellevue", address_id)
    moved = apicontractsv1.customerAddressExType()
    fill(moved, firstName="Sherlock", lastName="Holmes", address="221B Baker Street", city="London", state="WA",
         zip="98004", country="UK", phoneNumber="000-000-0000")  # fmt: skip
    moved.customerAddressId = address_id
    update = apicontractsv1.updateCustomerShippingAddressRequest()
    update.address, update.customerProfileId = moved, profile_id
    assert code(sdk(apicontrollers.updateCustomerShippingAddressController, update)) == "I00001"
    whole = apicontractsv1.getCustomerProfileRequest()
    whole.customerProfileId = profile_id
    # The SDK's bindings refuse a profile listing payment profiles (see test_authorizenet_vault_and_arb)
    # and fall back to lxml: the sample script's attribute access still works.
    profile = sdk(apicontrollers.getCustomerProfileController, whole, schema_valid=False).profile
    assert [(str(s.city), str(s.customerAddressId)) for s in profile.shipToList] == [("London", address_id)]
    delete = apicontractsv1.deleteCustomerShippingAddressRequest()
    delete.customerProfileId, delete.customerAddressId = profile_id, address_id
    assert code(sdk(apicontrollers.deleteCustomerShippingAddressController, delete)) == "I00001"
    assert code(sdk(apicontrollers.getCustomerShippingAddressController, read)) == "E00040"
    assert code(sdk(apicontrollers.deleteCustomerShippingAddressController, delete)) == "E00040"
    assert AnetShippingAddress.objects.get().deleted_at is not None


def test_a_shipping_address_longer_than_the_schema_allows_is_refused(sdk):
    profile_id, _ = create_profile(sdk)
    create = apicontractsv1.createCustomerShippingAddressRequest()
    create.customerProfileId = profile_id
    create.address = apicontractsv1.customerAddressType()
    create.address.city = "Bellevue"
    create.customerProfileId = "999"
    missing = sdk(apicontrollers.createCustomerShippingAddressController, create)
    create.customerProfileId = profile_id
    create.address = apicontractsv1.customerAddressType()
    empty = sdk(apicontrollers.createCustomerShippingAddressController, create)

    assert (code(missing), code(empty)) == ("E00040", "E00041")
    assert AnetShippingAddress.objects.count() == 0


def test_profile_from_a_transaction_saves_its_card_once_without_its_number(sdk):
    sale = charge(sdk, number="5424000000000015")
    trans_id = str(sale.transactionResponse.transId)
    request = apicontractsv1.createCustomerProfileFromTransactionRequest()
    request.transId = trans_id
    request.customer = apicontractsv1.customerProfileBaseType()
    request.customer.merchantCustomerId = "12332"
    request.customer.description = "This is a sample profile"
    request.customer.email = "john@castleblack.com"

    created = sdk(apicontrollers.createCustomerProfileFromTransactionController, request)
    again = sdk(apicontrollers.createCustomerProfileFromTransactionController, request)

    profile_id = str(created.customerProfileId)
    payment_profile_id = str(created.customerPaymentProfileIdList.numericString[0])
    assert code(created) == "I00001"
    assert code(again) == "E00039" and profile_id in str(again.messages.message[0]["text"])
    card = get_payment_profile(sdk, profile_id, payment_profile_id).paymentProfile.payment.creditCard
    assert (str(card.cardNumber), str(card.expirationDate), str(card.cardType)) == ("XXXX0015", "2030-12", "MasterCard")
    onto_existing = apicontractsv1.createCustomerProfileFromTransactionRequest()
    onto_existing.transId, onto_existing.customerProfileId = trans_id, profile_id
    duplicate = sdk(apicontrollers.createCustomerProfileFromTransactionController, onto_existing)
    assert code(duplicate) == "E00039"
    assert [str(v) for v in duplicate.customerPaymentProfileIdList.numericString] == [payment_profile_id]
    later = charge(sdk, profile=(profile_id, payment_profile_id), amount="13.00")  # another amount: no duplicate
    assert str(later.transactionResponse.responseCode) == "1"
    stored = json.dumps(list(AnetPaymentProfile.objects.values()), default=str)
    assert "5424000000000015" not in stored


def test_profile_from_a_transaction_adds_to_an_existing_profile_and_refuses_what_it_cannot_save(sdk):
    profile_id, first_card = create_profile(sdk)
    sale = charge(sdk, number="370000000000002")
    declined = charge(sdk, number="4111111111111112")  # not a test card: declined
    request = apicontractsv1.createCustomerProfileFromTransactionRequest()
    request.transId, request.customerProfileId = str(sale.transactionResponse.transId), profile_id
    request.defaultPaymentProfile = True

    added = sdk(apicontrollers.createCustomerProfileFromTransactionController, request)

    assert (code(added), str(added.customerProfileId)) == ("I00001", profile_id)
    new_card = str(added.customerPaymentProfileIdList.numericString[0])
    assert AnetPaymentProfile.objects.get(is_default=True).payment_profile_id == new_card != first_card
    refused = []
    for trans_id, profile in (("40999999999", profile_id), (str(declined.transactionResponse.transId), profile_id),
                              (str(sale.transactionResponse.transId), "500999999")):  # fmt: skip
        request.transId, request.customerProfileId = trans_id, profile
        refused.append(code(sdk(apicontrollers.createCustomerProfileFromTransactionController, request)))
    assert refused == ["E00040", "E00040", "E00040"]
    assert AnetPaymentProfile.objects.count() == 2


def test_transaction_list_for_customer_lists_the_charges_of_its_saved_cards(sdk):
    profile_id, payment_profile_id = create_profile(sdk)
    empty = apicontractsv1.getTransactionListForCustomerRequest()
    empty.customerProfileId = profile_id
    nothing = sdk(apicontrollers.getTransactionListForCustomerController, empty)
    first = charge(sdk, profile=(profile_id, payment_profile_id), amount="10.00")
    second = charge(sdk, profile=(profile_id, payment_profile_id), amount="20.00")
    charge(sdk, number="5424000000000015")  # not this customer's
    request = apicontractsv1.getTransactionListForCustomerRequest()
    request.customerProfileId = profile_id

    listed = sdk(apicontrollers.getTransactionListForCustomerController, request)

    assert (code(nothing), int(nothing.totalNumInResultSet)) == ("I00004", 0)
    assert code(listed) == "I00001" and int(listed.totalNumInResultSet) == 2
    rows = listed.transactions.transaction
    assert [str(t.transId) for t in rows] == [
        str(first.transactionResponse.transId),
        str(second.transactionResponse.transId),
    ]
    assert [(str(t.transactionStatus), str(t.accountType), float(t.settleAmount)) for t in rows] == [
        ("capturedPendingSettlement", "Visa", 10.0),
        ("capturedPendingSettlement", "Visa", 20.0),
    ]
    assert str(rows[0].profile.customerPaymentProfileId) == payment_profile_id
    request.customerPaymentProfileId = payment_profile_id
    request.sorting = apicontractsv1.TransactionListSorting()
    request.sorting.orderBy, request.sorting.orderDescending = "id", True
    request.paging = apicontractsv1.Paging()
    request.paging.limit, request.paging.offset = 1, 1
    page = sdk(apicontrollers.getTransactionListForCustomerController, request)
    assert [str(t.transId) for t in page.transactions.transaction] == [str(second.transactionResponse.transId)]
    assert int(page.totalNumInResultSet) == 2
    request.customerProfileId = "500999999"
    assert code(sdk(apicontrollers.getTransactionListForCustomerController, request)) == "E00040"
    assert AnetTransaction.objects.filter(customer_profile_id=profile_id).count() == 2
