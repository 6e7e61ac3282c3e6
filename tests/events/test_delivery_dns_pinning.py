"""A delivery connects to the addresses its URL check passed, never resolving the host name again
(DNS rebinding: a resolver answering a public address to the check and a private one to the
connection), while Host, TLS SNI and the certificate check stay with the URL's host name; a
redirect is not followed. Against real local HTTP(S) servers; only name resolution is replaced,
as it is the thing under test."""

from __future__ import annotations

import datetime
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.db import transaction

from apps.audit.actors import Actor
from apps.events.deliveries import webhook_delivery_attempt
from apps.events.endpoints import webhook_endpoint_create
from apps.events.models import WebhookDelivery, WebhookEndpoint
from apps.events.services import event_publish, event_relay

pytestmark = pytest.mark.django_db(transaction=True)

NAME = "hooks.rebind.test"
PUBLIC = "93.184.215.14"  # a public address: what the hostile resolver answers the check


def _certificate(subject: str, key: Any, issuer: x509.Certificate | None, issuer_key: Any) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(issuer.subject if issuer else x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer is None:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    else:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False)
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


class Authority:
    """A certificate authority the client trusts (REQUESTS_CA_BUNDLE), issuing server certificates."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.certificate = _certificate("Clearhouse test CA", self.key, None, self.key)
        self.bundle = directory / "ca.pem"
        self.bundle.write_bytes(self.certificate.public_bytes(serialization.Encoding.PEM))

    def server_context(self, name: str) -> ssl.SSLContext:
        key = ec.generate_private_key(ec.SECP256R1())
        certificate = _certificate(name, key, self.certificate, self.key)
        chain, key_file = self.directory / f"{name}.pem", self.directory / f"{name}.key"
        chain.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(chain, key_file)
        return context


class Listener:
    """A merchant's endpoint on `address` (plain HTTP, or TLS with `context`): records every post,
    and the name each TLS client asked for (SNI)."""

    def __init__(self, address: str, port: int = 0, context: ssl.SSLContext | None = None) -> None:
        self.posts: list[dict[str, Any]] = []
        self.server_names: list[str | None] = []
        self.responses: list[tuple[int, dict[str, str]]] = []
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                listener.posts.append({"path": self.path, "host": self.headers["Host"]})
                status, headers = listener.responses.pop(0) if listener.responses else (200, {})
                self.send_response(status)
                for header, value in headers.items():
                    self.send_header(header, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client refusing our certificate is what some tests expect

        self.server = Server((address, port), Handler)
        self.port = self.server.server_address[1]
        if context is not None:
            context.sni_callback = lambda _socket, name, _context: self.server_names.append(name)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Resolver:
    """Answers lookups of NAME from a script (the last answer repeats), counting them; any other
    name is resolved for real."""

    real = staticmethod(socket.getaddrinfo)

    def __init__(self, *answers: list[str]) -> None:
        self.answers = answers
        self.lookups = 0

    def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        if host != NAME:
            return self.real(host, port, *args, **kwargs)
        answer = self.answers[min(self.lookups, len(self.answers) - 1)]
        self.lookups += 1
        return [
            (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, int(port))) for address in answer
        ]


@pytest.fixture
def authority(tmp_path, monkeypatch) -> Authority:
    ca = Authority(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca.bundle))
    return ca


@pytest.fixture
def listeners() -> Iterator[list[Listener]]:
    started: list[Listener] = []
    yield started
    for listener in started:
        listener.close()


def a_delivery(merchant: Any, url: str) -> WebhookDelivery:
    issued = webhook_endpoint_create(
        merchant=merchant, url="https://example.com/hooks", event_types=["*"], actor=Actor.system("tests")
    )
    WebhookEndpoint.objects.filter(pk=issued.endpoint.pk).update(url=url)  # as if its DNS changed since
    with transaction.atomic():
        event = event_publish(
            merchant_id=merchant.pk,
            livemode=False,
            type="payment.captured",
            object_type="payment",
            object_id="pay_1",
            data={"id": "pay_1"},
        )
    (delivery_id,) = event_relay(event_id=event.pk)
    return WebhookDelivery.objects.get(pk=delivery_id)


def test_in_prod_a_name_rebound_to_loopback_after_the_check_is_not_posted_to(
    merchant, settings, monkeypatch, authority, listeners
):
    # The merchant's name has a valid certificate, and a server on our loopback would take the post.
    internal = Listener("127.0.0.1", context=authority.server_context(NAME))
    listeners.append(internal)
    resolver = Resolver([PUBLIC], ["127.0.0.1"])  # public to the check, loopback afterwards
    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    delivery = a_delivery(merchant, f"https://{NAME}:{internal.port}/hooks")
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    settings.WEBHOOK_DELIVERY_TIMEOUT_SECONDS = 1

    result = webhook_delivery_attempt(delivery_id=delivery.pk)

    assert internal.posts == []
    assert resolver.lookups == 1  # the name was resolved for the check only
    assert result is not None and (result.status, result.last_status_code) == (WebhookDelivery.Status.PENDING, None)
    assert f"host='{PUBLIC}'" in result.last_error  # the post went to the checked address


def test_a_delivery_speaks_to_its_host_name_at_the_resolved_address(merchant, monkeypatch, authority, listeners):
    resolved = Listener("127.0.0.1", context=authority.server_context(NAME))
    other = Listener("127.0.0.2", resolved.port, context=authority.server_context(NAME))
    listeners.extend([resolved, other])
    resolver = Resolver(["127.0.0.1"], ["127.0.0.2"])
    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    delivery = a_delivery(merchant, f"https://{NAME}:{resolved.port}/hooks")

    result = webhook_delivery_attempt(delivery_id=delivery.pk)

    assert result is not None and result.status == WebhookDelivery.Status.SUCCEEDED, result and result.last_error
    assert resolved.posts == [{"path": "/hooks", "host": f"{NAME}:{resolved.port}"}]
    assert resolved.server_names == [NAME]  # SNI; the certificate was checked for NAME (next test)
    assert other.posts == [] and resolver.lookups == 1


def test_a_certificate_for_another_name_is_refused_at_the_resolved_address(merchant, monkeypatch, authority, listeners):
    impostor = Listener("127.0.0.1", context=authority.server_context("other.test"))
    listeners.append(impostor)
    monkeypatch.setattr(socket, "getaddrinfo", Resolver(["127.0.0.1"]))
    delivery = a_delivery(merchant, f"https://{NAME}:{impostor.port}/hooks")

    result = webhook_delivery_attempt(delivery_id=delivery.pk)

    assert impostor.posts == []
    assert result is not None and result.last_status_code is None
    assert "SSLError" in result.last_error and NAME in result.last_error


def test_an_address_that_refuses_the_connection_falls_back_to_the_next_resolved(merchant, monkeypatch, listeners):
    reachable = Listener("127.0.0.1")
    listeners.append(reachable)
    resolver = Resolver(["127.0.0.2", "127.0.0.1"])  # nothing listens on 127.0.0.2
    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    delivery = a_delivery(merchant, f"http://{NAME}:{reachable.port}/hooks")

    result = webhook_delivery_attempt(delivery_id=delivery.pk)

    assert result is not None and result.status == WebhookDelivery.Status.SUCCEEDED, result and result.last_error
    assert reachable.posts == [{"path": "/hooks", "host": f"{NAME}:{reachable.port}"}]


def test_a_redirect_is_not_followed(merchant, listeners):
    elsewhere = Listener("127.0.0.1")
    redirecting = Listener("127.0.0.1")
    listeners.extend([elsewhere, redirecting])
    redirecting.responses = [(307, {"Location": f"http://127.0.0.1:{elsewhere.port}/internal"})]
    delivery = a_delivery(merchant, f"http://127.0.0.1:{redirecting.port}/hooks")

    result = webhook_delivery_attempt(delivery_id=delivery.pk)

    assert len(redirecting.posts) == 1 and elsewhere.posts == []
    assert result is not None and (result.status, result.last_status_code) == (WebhookDelivery.Status.PENDING, 307)
