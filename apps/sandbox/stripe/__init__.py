"""A wire-compatible, stateful Stripe sandbox (dev and test only): the v1 API as the official SDK
speaks it, mounted at /sandbox/stripe/v1/, with Stripe's test cards, 3-D Secure challenge pages,
idempotency, events and signed webhooks, and fault injection."""
