"""Fault injection for the sandboxes: latency, HTTP errors, connection resets, lost responses.

Faults come from the SANDBOX_FAULTS setting ("kind=value,kind=value", applied to every request)
or from SandboxFault rows, each consumed by the next matching request(s).
"""

from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import F, Q
from django.http import HttpRequest

from .models import SandboxFault

BEFORE = {SandboxFault.Kind.LATENCY, SandboxFault.Kind.HTTP_ERROR, SandboxFault.Kind.RESET}
AFTER = {SandboxFault.Kind.DROP_RESPONSE, SandboxFault.Kind.HANG_AFTER, SandboxFault.Kind.SYSTEM_ERROR}


@dataclass(frozen=True)
class Fault:
    kind: str
    value: int = 0


def configured_faults() -> list[Fault]:
    faults = []
    for item in filter(None, (part.strip() for part in settings.SANDBOX_FAULTS.split(","))):
        kind, _, value = item.partition("=")
        faults.append(Fault(kind.strip(), int(value or 0)))
    return faults


def take_faults(*, gateway: str, match: list[str], max_rows: int = 1) -> list[Fault]:
    """The faults for this request: configured ones plus at most `max_rows` queued rows, consumed."""
    faults = configured_faults()
    candidates = SandboxFault.objects.filter(gateway=gateway, remaining__gt=0).filter(Q(match="") | Q(match__in=match))
    taken = 0
    for row in candidates.order_by("id")[: max_rows + 4]:
        # A guarded decrement: of concurrent requests only one consumes the last use.
        if SandboxFault.objects.filter(pk=row.pk, remaining__gt=0).update(remaining=F("remaining") - 1):
            faults.append(Fault(row.kind, row.value))
            taken += 1
            if taken == max_rows:
                break
    return faults


def _socket_of(request: HttpRequest) -> socket.socket | None:
    sock = request.META.get("gunicorn.socket")
    if isinstance(sock, socket.socket):
        return sock
    # Django's runserver / live test server: LimitedStream(BufferedReader(SocketIO(socket))).
    stream: Any = request.META.get("wsgi.input")
    reader = getattr(getattr(stream, "_read", None), "__self__", None)
    raw = getattr(reader, "raw", None)
    sock = getattr(raw, "_sock", None)
    return sock if isinstance(sock, socket.socket) else None


def reset_connection(request: HttpRequest) -> bool:
    """Drop the client's TCP connection before it gets an answer. False if the server hides the socket.

    shutdown() ends the connection at once even while the server's file objects still hold the
    socket (close() would only drop a reference); SO_LINGER 0 turns the final close into a RST.
    """
    sock = _socket_of(request)
    if sock is None:
        return False
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        return False
    return True


def sleep_ms(milliseconds: int) -> None:
    time.sleep(milliseconds / 1000)
