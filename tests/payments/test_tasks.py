from __future__ import annotations

import pytest
from celery.exceptions import Retry

from apps.payments import tasks
from apps.payments.models import GatewayTransaction
from tests.payments.helpers import purchase


def test_backoff_grows_with_jitter_and_a_cap():
    delays = [tasks._backoff(n) for n in range(12)]

    assert 3 <= delays[0] <= 7
    assert delays[3] > delays[0]
    assert max(delays) <= 750


def test_resolve_task_retries_while_the_gateway_cannot_tell(api, anet_account, sandbox_fault, settings, monkeypatch):
    settings.GATEWAY_NOT_FOUND_GRACE_SECONDS = 3600
    sandbox_fault("reset", match="authCaptureTransaction")
    purchase(api, 800)
    gt = GatewayTransaction.objects.get()
    monkeypatch.setattr(tasks.gateway_transaction_resolve, "retry", lambda **kwargs: Retry("again"))

    with pytest.raises(Retry):
        tasks.gateway_transaction_resolve.run(gt.pk)
    sandbox_fault("http_error", 503)
    with pytest.raises(Retry):
        tasks.gateway_transaction_resolve.run(gt.pk)

    assert GatewayTransaction.objects.get().resolution_attempts == 2


def test_sweep_task_counts_what_it_queued(api, anet_account):
    purchase(api, 800)

    assert tasks.gateway_transactions_sweep.run() == 0
