"""A POST to a URL at addresses resolved (and checked) beforehand. The connection goes to one of
those addresses and the URL's host name is never looked up again, while the Host header, TLS SNI
and the certificate check still use that name: what the endpoint sees is an ordinary request to
its URL. This is the documented urllib3 way (a pool for the address, `server_hostname` for TLS,
an explicit Host header), behind a requests adapter."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import DEFAULT_POOLBLOCK, HTTPAdapter
from urllib3.exceptions import NewConnectionError


class _ServerNameAdapter(HTTPAdapter):
    """Connects wherever the URL says (an address) but speaks TLS to `server_name`: SNI and the
    certificate's host name check are for it."""

    def __init__(self, server_name: str) -> None:
        self._server_name = server_name  # before super().__init__, which builds the pool manager
        super().__init__()

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = DEFAULT_POOLBLOCK, **pool_kwargs: Any
    ) -> None:
        # urllib3 drops the TLS keywords for plain http pools.
        super().init_poolmanager(connections, maxsize, block, server_hostname=self._server_name, **pool_kwargs)


def _in_netloc(host: str) -> str:
    """An IPv6 address goes in brackets, its zone index (dev only) percent-encoded."""
    return f"[{host.replace('%', '%25')}]" if ":" in host else host


def _never_connected(exc: requests.RequestException) -> bool:
    """True when no connection was made (so nothing was sent): another address may be tried."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(exc, requests.ConnectionError) and isinstance(reason, NewConnectionError)


@contextmanager
def pinned_post(
    url: str,
    *,
    addresses: Sequence[str],
    data: bytes,
    headers: Mapping[str, str],
    timeout: float,
    fallback_until: float,
) -> Iterator[requests.Response]:
    """POST `data` to `url`, connecting to `addresses` only: the first that takes the connection
    (the next one is tried when one refuses or does not answer, as a resolver's list is, but not
    after the monotonic time `fallback_until`). Redirects are not followed; the answer is streamed
    and closed on leaving. Raises what requests raises."""
    parts = urlsplit(url)
    name = str(parts.hostname).encode("idna").decode("ascii")  # as the resolver was asked
    port = f":{parts.port}" if parts.port else ""
    # What requests would have sent (http.client leaves a default port out).
    host_header = _in_netloc(name) + ("" if parts.port == (443 if parts.scheme == "https" else 80) else port)
    userinfo = parts.netloc.rpartition("@")[0]  # kept: requests sends it as basic auth
    with requests.Session() as session:
        session.mount(f"{parts.scheme}://", _ServerNameAdapter(name))
        for index, address in enumerate(addresses):
            netloc = _in_netloc(address) + port
            if userinfo:
                netloc = f"{userinfo}@{netloc}"
            try:
                response = session.post(
                    parts._replace(netloc=netloc).geturl(),
                    data=data,
                    headers={**headers, "Host": host_header},
                    timeout=timeout,
                    allow_redirects=False,  # a redirect could lead to a host nobody checked
                    stream=True,
                )
            except requests.RequestException as exc:
                if index + 1 < len(addresses) and _never_connected(exc) and time.monotonic() < fallback_until:
                    continue
                raise
            try:
                yield response
            finally:
                response.close()
            return
        raise requests.ConnectionError(f"No address to connect to for {name}.")
