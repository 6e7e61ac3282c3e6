"""The risk tests also run on Stripe: its account fixture, shared with the Stripe tests."""

from tests.stripe.conftest import stripe_account  # noqa: F401
