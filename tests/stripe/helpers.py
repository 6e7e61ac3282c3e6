"""Acting as the customer in the Stripe sandbox's 3-D Secure page."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin

import requests


@dataclass
class _Form:
    action: str
    fields: dict[str, str] = field(default_factory=dict)
    buttons: list[tuple[str, str, str]] = field(default_factory=list)  # name, value, label


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[_Form] = []
        self._button: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.forms.append(_Form(values.get("action", "")))
        elif tag == "input" and self.forms and values.get("type") == "hidden":
            self.forms[-1].fields[values.get("name", "")] = values.get("value", "")
        elif tag == "button" and self.forms:
            self._button = [values.get("name", ""), values.get("value", ""), ""]

    def handle_data(self, data: str) -> None:
        if self._button is not None:
            self._button[2] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "button" and self._button is not None and self.forms:
            name, value, label = self._button
            self.forms[-1].buttons.append((name, value, label.strip()))
            self._button = None


def authenticate(action_url: str, *, complete: bool = True) -> str:
    """Press "Complete" (or "Fail") on the challenge page as the customer would; returns where the
    page sends the browser next (the return URL), or "" when it has nowhere to send it."""
    session = requests.Session()
    page = session.get(action_url, timeout=10)
    page.raise_for_status()
    parser = _Forms()
    parser.feed(page.text)
    wanted = "complete" if complete else "fail"
    for form in parser.forms:
        for name, value, label in form.buttons:
            if label.lower().startswith(wanted):
                data = dict(form.fields)
                if name:
                    data[name] = value
                answer = session.post(urljoin(page.url, form.action or page.url), data=data, allow_redirects=False)
                assert answer.status_code in {200, 302, 303}, answer.status_code
                return answer.headers.get("Location", "")
    raise AssertionError(f"no {wanted} button on the challenge page: {page.text[:500]}")
