"""The browser tests share the `browser` fixture of tests/conftest.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page; after the test, proof that the Content-Security-Policy blocked nothing the
    page needed (Chromium reports every violation on the console)."""
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(20_000)
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    yield page
    context.close()
    violations = [text for text in console if "Content Security Policy" in text]
    assert not violations, violations
