from apps.core.errors import ApplicationError, ErrorType


class MerchantError(ApplicationError):
    pass


class MerchantSlugTaken(MerchantError):
    status_code = 409
    code = "merchant_slug_taken"
    default_message = "A merchant with this slug already exists."


class ApiKeyInvalid(ApplicationError):
    status_code = 401
    error_type = ErrorType.AUTHENTICATION
    code = "api_key_invalid"
    default_message = "Invalid API key provided."
