"""The merchant account's own details in the Authorize.Net sandbox (getMerchantDetails): what the
sandbox account really supports, no more. Cards only, card-not-present (eCommerce), in the
account's one currency, through one processor; the sandbox runs in live mode (transactions get
real ids), so `isTestMode` is false."""

from __future__ import annotations

from lxml import etree

from apps.sandbox.models import AnetAccount

from .xml import Builder

PROCESSOR = ("First Data Nashville", 2)
# The processor's card types, as the gateway abbreviates them (Visa, MasterCard, Amex, Discover,
# JCB, Diners Club), and the same brands as paymentMethodsTypeEnum spells them.
CARD_TYPE_CODES = ("V", "M", "A", "D", "J", "DC")
PAYMENT_METHODS = ("Visa", "MasterCard", "AmericanExpress", "Discover", "JCB", "DinersClub")
MARKET_TYPES = ("eCommerce",)
PRODUCT_CODES = ("CNP",)  # card not present
GATEWAY_ID_OFFSET = 300_000


def gateway_id(account: AnetAccount) -> str:
    return str(GATEWAY_ID_OFFSET + account.pk)


def merchant_details(root: etree._Element, account: AnetAccount, response_root: str, ref_id: str) -> bytes:
    builder = Builder(response_root)
    builder.messages("Ok", [("I00001", "Successful.")], ref_id)
    builder.add(builder.root, "isTestMode", "false")
    processor = builder.add(builder.add(builder.root, "processors"), "processor")
    builder.add(processor, "name", PROCESSOR[0])
    builder.add(processor, "id", PROCESSOR[1])
    card_types = builder.add(processor, "cardTypes")
    for code in CARD_TYPE_CODES:
        builder.add(card_types, "cardType", code)
    builder.add(builder.root, "merchantName", f"Sandbox merchant {account.api_login_id}")
    builder.add(builder.root, "gatewayId", gateway_id(account))
    for group, name, values in (
        ("marketTypes", "marketType", MARKET_TYPES),
        ("productCodes", "productCode", PRODUCT_CODES),
        ("paymentMethods", "paymentMethod", PAYMENT_METHODS),
        ("currencies", "currency", (account.currency,)),
    ):
        node = builder.add(builder.root, group)
        for value in values:
            builder.add(node, name, value)
    return builder.to_bytes()


HANDLERS = {"getMerchantDetailsRequest": merchant_details}
