"""Reading Authorize.Net XML requests and writing schema-valid responses, as the real service does.

Responses: HTTP 200 always, a UTF-8 BOM, a lowercase `encoding="utf-8"` declaration, the
xsi/xsd namespace declarations and elements in the XSD's order (checked in tests with the SDK's
own `apicontractsv1.CreateFromDocument`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from lxml import etree

NS = "AnetApi/xml/v1/schema/AnetApiSchema.xsd"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XSD = "http://www.w3.org/2001/XMLSchema"
BOM = b"\xef\xbb\xbf"
DECLARATION = b'<?xml version="1.0" encoding="utf-8"?>'
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


class RequestXmlError(ValueError):
    pass


def parse(body: bytes) -> etree._Element:
    try:
        return etree.fromstring(body, parser=_PARSER)
    except etree.XMLSyntaxError as exc:
        raise RequestXmlError(str(exc)) from exc


def local_name(element: etree._Element) -> str:
    return str(etree.QName(element).localname)


def find_text(element: etree._Element | None, path: str) -> str:
    """Text at a '/'-separated path of local names (namespace-agnostic), or ""."""
    node = element
    for name in path.split("/"):
        if node is None:
            return ""
        node = next((child for child in node if isinstance(child.tag, str) and local_name(child) == name), None)
    return (node.text or "").strip() if node is not None else ""


def find(element: etree._Element | None, path: str) -> etree._Element | None:
    node = element
    for name in path.split("/"):
        if node is None:
            return None
        node = next((child for child in node if isinstance(child.tag, str) and local_name(child) == name), None)
    return node


def children(element: etree._Element | None, name: str) -> list[etree._Element]:
    if element is None:
        return []
    return [child for child in element if isinstance(child.tag, str) and local_name(child) == name]


class Builder:
    """Appends namespaced elements in the order they are written."""

    def __init__(self, root_name: str) -> None:
        self.root = etree.Element(f"{{{NS}}}{root_name}", nsmap={None: NS, "xsi": XSI, "xsd": XSD})

    @staticmethod
    def add(parent: etree._Element, name: str, text: Any = None) -> etree._Element:
        child = etree.SubElement(parent, f"{{{NS}}}{name}")
        if text is not None:
            child.text = str(text)
        return child

    def add_optional(self, parent: etree._Element, name: str, text: Any) -> None:
        if text not in (None, ""):
            self.add(parent, name, text)

    def messages(self, result_code: str, messages: Iterable[tuple[str, str]], ref_id: str = "") -> None:
        if ref_id:
            self.add(self.root, "refId", ref_id)
        node = self.add(self.root, "messages")
        self.add(node, "resultCode", result_code)
        for code, text in messages:
            message = self.add(node, "message")
            self.add(message, "code", code)
            self.add(message, "text", text)

    def to_bytes(self) -> bytes:
        body: bytes = etree.tostring(self.root, encoding="utf-8")
        return BOM + DECLARATION + body


# Response roots whose XSD type requires more than `messages` (transactionResponse,
# transaction): an error-only body under them would be schema-invalid, so API-level errors for
# these methods use the XSD's ErrorResponse root, which the SDK reads the same way.
_ROOTS_REQUIRING_CONTENT = frozenset(
    {
        "createTransactionResponse",
        "getTransactionDetailsResponse",
        "createCustomerProfileResponse",
        "ARBGetSubscriptionResponse",
    }
)


def error_response(root_name: str, code: str, text: str, ref_id: str = "") -> bytes:
    builder = Builder("ErrorResponse" if root_name in _ROOTS_REQUIRING_CONTENT else root_name)
    builder.messages("Error", [(code, text)], ref_id)
    return builder.to_bytes()
