"""OpenAPI description of customer session authentication (loaded by SessionsApiConfig.ready)."""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class CustomerSessionAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "apps.sessions_api.authentication.CustomerSessionAuthentication"
    name = "CustomerSessionAuth"

    def get_security_requirement(self, auto_schema: Any) -> dict[str, list[Any]] | list[dict[str, list[Any]]]:
        """Listed only on the operations a customer token may call (their views' customer_abilities)."""
        abilities = getattr(auto_schema.view, "customer_abilities", {})
        if auto_schema.method.upper() not in abilities:
            return []
        return {self.name: []}

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "A customer session token from POST /api/v1/customer-sessions: only the reads its "
            "abilities allow, of its customer's objects.",
        }
