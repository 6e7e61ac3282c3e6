"""The API against its own OpenAPI document, fuzzed with schemathesis: every operation, called with
a secret key and with a publishable key, with data the document allows and data it does not,
answers no server error and nothing the document does not describe (status codes, content types,
response bodies), and refuses what the document does not allow.

Not checked: that every request the document allows is accepted (schemathesis's
positive_data_acceptance). The document cannot say everything a request must satisfy (an end day
after the start day, a key's earlier use, ids that exist), so such requests are rightly refused.

schemathesis's pytest plugin does not run under this pytest, so the operations are driven through
its Python API: each one's hypothesis strategy, called in process through WSGI.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import ignored_auth, positive_data_acceptance

from apps.audit.actors import Actor
from apps.merchants.services import api_key_create

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

EXAMPLES = 25  # per operation, mode: the whole run stays within a few minutes


@pytest.fixture
def api_schema(settings: Any) -> Iterator[Any]:
    """The schema the app serves, its operations called in process through WSGI (as Django's test
    client does: without closing the test's database connection after each request)."""
    settings.API_DOCS_PUBLIC = True
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/schema/?format=json", WSGIHandler())
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def test_every_operation_keeps_to_the_document(api_schema: Any, api_key: Any, merchant: Any) -> None:
    publishable = api_key_create(merchant=merchant, mode="test", kind="publishable", actor=Actor.system("tests"))
    keys = (api_key.secret, publishable.secret)
    failures: dict[str, str] = {}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 40

    for operation, mode in itertools.product(operations, (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)):

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        def keeps_to_the_document(case: Any) -> None:
            for key in keys:
                # A fresh Idempotency-Key per call, as a client sends (a reused one is rightly 422).
                headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": str(uuid.uuid4())}
                response = case.call(headers=headers)
                # ignored_auth expects the generated (invalid) credentials we replace with real ones.
                case.validate_response(response, excluded_checks=[ignored_auth, positive_data_acceptance])

        try:
            keeps_to_the_document()
        except (Exception, BaseExceptionGroup) as exc:  # every operation's failures are reported together
            failures[f"{operation.label} ({mode.value})"] = f"{type(exc).__name__}: {exc}"[:1500]

    assert not failures, "\n\n".join(f"{label}\n{failure}" for label, failure in failures.items())
