"""The Content-Security-Policy is enforced, so the check every browser test ends with (no
violation reported on the console) means something."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.browser


def test_an_inline_script_is_refused_and_reported(db: Any, live_server: Any, browser: Any) -> None:
    context = browser.new_context()
    page = context.new_page()
    seen: list[str] = []
    page.on("console", lambda message: seen.append(message.text))
    try:
        page.goto(f"{live_server.url}/admin/login/")
        page.evaluate(
            """() => { const s = document.createElement('script'); s.textContent = 'window.ran = 1';
                       document.body.appendChild(s); }"""
        )
        assert page.evaluate("() => window.ran === undefined")
        page.wait_for_timeout(200)
    finally:
        context.close()
    assert any("Content Security Policy" in text for text in seen), seen


def test_the_admin_login_and_the_api_docs_need_nothing_the_policy_blocks(
    db: Any, live_server: Any, page: Any, settings: Any
) -> None:
    settings.API_DOCS_PUBLIC = True
    page.goto(f"{live_server.url}/admin/login/")
    page.wait_for_selector("#id_username")
    page.goto(f"{live_server.url}/api/docs/")
    page.wait_for_selector(".swagger-ui .info")
