"""What the OpenAPI document says about every operation, beyond each view's own annotations:
the error envelope for every error status an operation can answer with, list objects for lists,
and the CSV variant of the reports (a drf-spectacular postprocessing hook)."""

from __future__ import annotations

from typing import Any

from .pagination import list_object_schema

ERROR_TYPES = [
    "invalid_request_error", "authentication_error", "permission_error", "rate_limit_error", "idempotency_error",
    "card_error", "api_error",
]  # fmt: skip
ERROR_SCHEMA = {
    "type": "object",
    "required": ["error", "request_id"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["type", "code", "message", "param"],
            "properties": {
                "type": {"type": "string", "enum": ERROR_TYPES},
                "code": {"type": "string", "description": "Stable; listed in docs/api.md"},
                "message": {"type": "string"},
                "param": {"type": "string", "nullable": True, "description": "The parameter at fault, if one"},
            },
            "additionalProperties": True,  # e.g. `payment` on a card error, `details` for several
        },
        "request_id": {"type": "string", "nullable": True},
    },
}

# Errors any operation can answer with, and those only operations that change something can.
EVERY_OPERATION = {
    "400": "Invalid request: a parameter is missing, malformed or unknown (error envelope)",
    "401": "No API key, an Authorization header that is not `Bearer <key>`, or an unknown or revoked key",
    "403": "The key may not do this (a publishable key outside checkout)",
    "404": "No such object for this merchant",
    "413": "The request body is over the upload limit",
    "429": "Too many requests for this key; retry after Retry-After seconds",
}
CHANGING_OPERATIONS = {
    "402": "Declined, a card error: by the gateway, or before it (risk blocked it, the card has expired)",
    "409": "Conflicting state, or the same Idempotency-Key still in progress; retry",
    "415": "The body is not application/json",
    "422": "The Idempotency-Key was used with a different request",
    "502": "The gateway refused the account's credentials or configuration",
    "503": "The gateway could not be reached; nothing happened",
}
ERROR_REF = {"$ref": "#/components/schemas/Error"}


def _describe_errors(method: str, operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    statuses = {**EVERY_OPERATION, **(CHANGING_OPERATIONS if method in {"post", "patch", "put", "delete"} else {})}
    for status, description in statuses.items():
        given = responses.get(status) or {}
        responses[status] = {
            "description": given.get("description") or description,
            "content": {"application/json": {"schema": ERROR_REF}},
        }


def _describe_list(operation: dict[str, Any]) -> None:
    """Lists answer with the list object, whatever the view annotated (an array, or any object)."""
    ok = operation.get("responses", {}).get("200", {})
    is_list = operation.get("operationId", "").endswith(("_list", "_invoices"))
    for media in ok.get("content", {}).values():
        schema = media.get("schema", {})
        if schema.get("type") == "array":
            media["schema"] = list_object_schema(schema)
        elif is_list and schema.get("type") == "object" and "properties" not in schema:
            media["schema"] = list_object_schema({"type": "array", "items": {"type": "object"}})


def _describe_csv(operation: dict[str, Any]) -> None:
    ok = operation.get("responses", {}).get("200", {})
    ok.setdefault("content", {})["text/csv"] = {
        "schema": {"type": "string", "description": "A header line, then a row per group (format=csv)"}
    }


def postprocess(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            _describe_errors(method, operation)
            _describe_list(operation)
            if path.startswith("/api/v1/reports/"):
                _describe_csv(operation)
    return result
