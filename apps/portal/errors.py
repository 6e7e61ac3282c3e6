from apps.core.errors import ApplicationError


class PortalLinkInvalid(ApplicationError):
    """A portal link that is unknown, was opened already, or has expired: which of them is not said."""

    status_code = 410
    code = "portal_link_invalid"
    default_message = "This link to the customer portal was used already or has expired."
