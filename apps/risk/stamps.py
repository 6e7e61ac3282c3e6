"""The risk rules' and lists' stamps (apps.core.stamps): a payment reads both in the round trip to
Redis it makes for its velocity counters (apps.risk.velocity.velocity_observe_reading), and this
process's copies of the rules and lists (apps.risk.selectors) are used under them, re-read at
least every RISK_CACHE_REFRESH_SECONDS."""

from __future__ import annotations

from apps.core.stamps import stamp_key

RULES = "risk_rules"
LISTS = "risk_lists"
NAMES = (RULES, LISTS)
STAMP_KEYS = tuple(stamp_key(name) for name in NAMES)
