"""The quickstart's broker (kombu's filesystem transport, with no REDIS_URL) keeps all it writes
under var/, which git ignores: nothing appears in the directory the processes were started from."""

from __future__ import annotations

import uuid

from kombu import Connection, Exchange, Queue

from config.settings.base import VAR_DIR, celery_broker_settings


def test_the_filesystem_broker_writes_its_bindings_under_var_not_in_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    name = f"test-{uuid.uuid4().hex[:12]}"
    url, options = celery_broker_settings("")

    with Connection(url, transport_options=options) as connection:
        Queue(name, Exchange(name, type="direct"), routing_key=name)(connection.default_channel).declare()

    binding = VAR_DIR / "celery" / "control" / f"{name}.exchange"
    try:
        assert binding.is_file()
        assert list(tmp_path.iterdir()) == []
        assert (VAR_DIR / ".gitignore").read_text().splitlines()[0] == "*"
    finally:
        binding.unlink(missing_ok=True)
