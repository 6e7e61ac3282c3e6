from __future__ import annotations

import secrets
import string

BASE62 = string.digits + string.ascii_letters


def new_id(prefix: str, length: int = 14) -> str:
    """A public id as Razorpay writes them: a prefix and 14 base62 characters (`pay_N8KCZ3Yy5kYNtq`)."""
    return prefix + "".join(secrets.choice(BASE62) for _ in range(length))
