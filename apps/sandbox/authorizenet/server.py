"""The Authorize.Net sandbox as the endpoint serves it: the transaction engine with every method,
the recurring-billing (ARB) ones included. ARB sits above the engine (its schedule charges through
the engine), so the engine is handed ARB's handlers here instead of importing them."""

from __future__ import annotations

from . import arb
from .engine import AuthorizeNetSandbox


def sandbox_request(body: bytes) -> AuthorizeNetSandbox:
    return AuthorizeNetSandbox(body, extra_handlers=arb.HANDLERS)
