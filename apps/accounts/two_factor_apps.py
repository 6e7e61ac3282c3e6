"""django-otp's device apps under names staff can read in the admin index ("Otp_Totp" and
"Otp_Static" otherwise). Their labels, tables and migrations stay django-otp's; superusers remove a
lost device there, and enrolment is on the user's page (apps/accounts/admin.py)."""

from __future__ import annotations

from django_otp.plugins.otp_static.apps import DefaultConfig as OtpStaticConfig
from django_otp.plugins.otp_totp.apps import DefaultConfig as OtpTotpConfig


class AuthenticatorAppsConfig(OtpTotpConfig):
    """TOTP devices (label `otp_totp`): the authenticator apps staff log in with."""

    verbose_name = "Two-factor: authenticator apps"


class RecoveryCodesConfig(OtpStaticConfig):
    """Static devices (label `otp_static`): each staff member's one-time recovery codes."""

    verbose_name = "Two-factor: recovery codes"
