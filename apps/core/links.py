"""Links we build for people's browsers."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit, urlunsplit


def with_query(url: str, **params: str) -> str:
    """`url` with `params` added to its query string (what it had is kept)."""
    parts = urlsplit(url)
    query = "&".join(filter(None, [parts.query, urlencode(params)]))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))
