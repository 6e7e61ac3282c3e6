"""A member of staff in their own Chromium context, logged in through the real login page with
password and authenticator code (2FA on), who checks every page they see for amounts standing in
bare minor units. Shared by the whole-day browser tests."""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from django_otp.oath import TOTP

from apps.accounts.services import staff_user_create
from apps.audit.actors import Actor

SYSTEM = Actor.system("tests")
WIDTH = 1400
SHOTS = os.environ.get("CLEARHOUSE_SCREENSHOTS", "")


class Person:
    """One member of the team in their own browser context, logged in with TOTP in one step.

    `bare` lists the amounts (in minor units) of the test's given state: none of them may stand
    bare on any page this person sees (45.17 USD, never 4517)."""

    def __init__(self, browser: Any, live_server: Any, role: str, username: str, *, bare: Sequence[int]) -> None:
        created = staff_user_create(username=username, roles=[role], with_totp=True, actor=SYSTEM)
        assert created.totp_uri, "2FA is on: every member of staff has an authenticator"
        self.user, self.url, self.bare = created.user, live_server.url, tuple(bare)
        self.context = browser.new_context(viewport={"width": WIDTH, "height": 900}, accept_downloads=True)
        self.page = self.context.new_page()
        self.page.set_default_timeout(30_000)
        self.page.goto(f"{self.url}/admin/login/?next=/admin/")
        self.page.fill("#id_username", username)
        self.page.fill("#id_password", created.password)
        self.page.fill("#id_otp_token", authenticator_code(created.totp_uri))
        self.page.click("input[type=submit]")
        assert urlparse(self.page.url).path == "/admin/", self.page.content()  # one submit, no device menu
        self.check()

    def go(self, path: str) -> Any:
        self.page.goto(f"{self.url}{path}")
        return self.check()

    def check(self) -> Any:
        """The page in view shows no amount of the day in bare minor units."""
        self.page.wait_for_load_state()
        text = self.page.content()
        for amount in self.bare:
            found = re.search(rf"(?<![\w.,/#-]){amount}(?![\w.,/])", text)
            where = text[max(found.start() - 150, 0) : found.end() + 150] if found else ""
            assert found is None, f"{amount} in minor units on {self.page.url}: …{where}…"
        assert "minor units" not in text, self.page.url
        return self.page

    def messages(self) -> str:
        return str(self.page.inner_text("ul.messagelist")) if self.page.locator("ul.messagelist").count() else ""

    def shot(self, name: str) -> None:
        if SHOTS:
            Path(SHOTS).mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


def authenticator_code(uri: str) -> str:
    """What the authenticator app shows for the provisioning URI the enrolment printed."""
    query = parse_qs(urlparse(uri).query)
    secret = query["secret"][0]
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    return f"{TOTP(key, digits=int(query.get('digits', ['6'])[0])).token():06d}"
