"""docs/api.md runs as printed: every curl example is run with bash and the real curl, in order,
against a live server set up as `make run` sets it up (seed_demo, the gateway sandboxes served by
the app itself), with the values of the docs' "set these first" block; each must answer with the
status its docs show and agree with the answer they show. What a reader does outside the shell
between two examples (the browser paying at Razorpay Checkout or confirming with Stripe.js, the
nightly settlement) the test does at the same point, as the docs say."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
import requests
from django.conf import settings as django_settings
from django.core.management import call_command

from apps.audit.actors import Actor
from apps.catalog.models import Price
from apps.gateways.services import gateway_account_create
from apps.merchants.models import Merchant
from apps.merchants.services import api_key_create, merchant_create
from apps.sandbox.razorpay.services import rzp_checkout_pay
from apps.sandbox.stripe.services import stripe_account_create
from tests.conftest import ANET_PATH, RZP_PATH, STRIPE_PATH
from tests.sandbox.razorpay_helpers import VISA_OK

from .docs_examples import Example, Outcome, answer_problems, parse, read, run

DOCS = Path(__file__).resolve().parents[2] / "docs" / "api.md"
ACTOR = Actor.system("tests")
# What the shell gets from the test's own environment: enough to find bash, curl and python3 (a
# proxy setting is left out: the examples talk to the local server).
PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYENV_ROOT", "PYENV_VERSION")


def demo_values(live_url: str, settings: Any) -> dict[str, str]:
    """`make run`'s world at the live server, and the values a reader fills in at the top."""
    settings.AUTHORIZENET_TEST_ENDPOINT = f"{live_url}{ANET_PATH}"
    settings.RAZORPAY_TEST_API_BASE = f"{live_url}{RZP_PATH}"
    settings.STRIPE_TEST_API_BASE = f"{live_url}{STRIPE_PATH}"
    settings.AUTHORIZENET_TIMEOUT_SECONDS = 10.0
    printed = StringIO()
    call_command("seed_demo", "--base-url", live_url, stdout=printed)
    key = re.search(r"API key:\s+(sk_test_\S+)", printed.getvalue())
    publishable = re.search(r"Publishable:\s+(pk_test_\S+)", printed.getvalue())
    assert key and publishable, printed.getvalue()
    demo = Merchant.objects.get(slug="demo")
    spare = api_key_create(merchant=demo, mode="test", name="to revoke", actor=ACTOR)

    # The 3-D Secure example's merchant: its cards go to Stripe.
    stripe_merchant = merchant_create(slug="stripe-store", name="Stripe Store", actor=ACTOR)
    sandbox = stripe_account_create()
    gateway_account_create(
        merchant=stripe_merchant,
        gateway="stripe",
        mode="test",
        currency="USD",
        credentials={
            "secret_key": sandbox.secret_key,
            "publishable_key": sandbox.publishable_key,
            "webhook_secret": "whsec_unused",
        },
        actor=ACTOR,
    )
    return {
        "CH": live_url,
        "KEY": key.group(1),
        "PK": publishable.group(1),
        "KEY_ID": spare.api_key.public_id,
        "INR_PRICE_ID": Price.objects.get(product__merchant=demo, product__name="Pro plan").public_id,
        "USD_PRICE_ID": Price.objects.get(product__merchant=demo, currency="USD").public_id,
        "STRIPE_KEY": api_key_create(merchant=stripe_merchant, mode="test", actor=ACTOR).secret,
    }


# --- what happens outside the shell, before the example that needs it ----------------------------

Answers = dict[str, Any]  # the latest JSON answer of each route


def settle(answers: Answers) -> dict[str, str]:
    """The gateway's nightly settlement (in dev: manage.py sandbox_settle)."""
    call_command("sandbox_settle", stdout=StringIO())
    return {}


def pay_at_razorpay_checkout(answers: Answers) -> dict[str, str]:
    """The shopper pays the order in Razorpay Checkout; its handler gets these three values."""
    options = answers["POST /api/v1/checkout/razorpay/orders"]["razorpay"]
    paid = rzp_checkout_pay(
        key_id=options["key"], order_id=options["order_id"], card_number=VISA_OK, exp_month=12, exp_year=2035, cvv="123"
    )
    assert paid.ok, paid.error
    return {
        "RAZORPAY_ORDER_ID": paid.order_id,
        "RAZORPAY_PAYMENT_ID": str(paid.payment_id),
        "RAZORPAY_SIGNATURE": str(paid.signature),
    }


def confirm_with_stripe_js(answers: Answers) -> dict[str, str]:
    """What Stripe.js's confirmCardPayment does in the browser, with the publishable key."""
    options = answers["POST /api/v1/checkout/stripe/payment-intents"]["stripe"]
    confirmed = requests.post(
        f"{django_settings.STRIPE_TEST_API_BASE}/v1/payment_intents/{options['payment_intent']}/confirm",
        data={"client_secret": options["client_secret"], "payment_method": "pm_card_visa"},
        headers={"Authorization": f"Bearer {options['publishable_key']}"},
        timeout=10,
    ).json()
    assert confirmed["status"] == "succeeded", confirmed
    return {"PAYMENT_INTENT": options["payment_intent"]}


BEFORE: dict[str, Callable[[Answers], dict[str, str]]] = {
    "POST /api/v1/payments/$PAYMENT_ID/refunds": settle,
    "POST /api/v1/checkout/razorpay/verify": pay_at_razorpay_checkout,
    "POST /api/v1/checkout/stripe/confirm": confirm_with_stripe_js,
}


# The docs' helper that keeps an answer's id, and the same that also writes the answer it read to
# a file of ours: an example that keeps only the id still has its documented answer checked.
DOCS_PRINT_ID = 'import json, sys; print(json.load(sys.stdin)["id"])'
TEEING_PRINT_ID = (
    "import json, os, sys; answer = sys.stdin.read(); "
    'open(os.environ["__EXAMPLE_BODY"], "w").write(answer); print(json.loads(answer)["id"])'
)


def problems_of(example: Example, outcome: Outcome, workdir: Path, captured: Path | None = None) -> list[str]:
    where = f"docs/api.md:{example.line} {example.route}"
    if outcome.status is None:
        return [f"{where}: no answer (exit {outcome.exit_code}): {outcome.stderr.strip()[:500]}"]
    if outcome.status != example.status and not (example.status is None and 200 <= outcome.status < 300):
        documented = example.status or "a success (2xx)"
        return [f"{where}: answered {outcome.status}, documented {documented}: {outcome.stdout[:500]}"]
    problems: list[str] = []
    if outcome.exit_code != 0:
        problems.append(f"{where}: the command failed (exit {outcome.exit_code}): {outcome.stderr.strip()[:500]}")
    if example.assigns and not outcome.env.get(example.assigns):
        problems.append(f"{where}: {example.assigns} is empty")
    body = outcome.stdout
    if example.assigns and captured is not None:
        if not captured.exists():
            return [*problems, f"{where}: the answer kept in {example.assigns} was not read through $PRINT_ID"]
        body = captured.read_text(encoding="utf-8")
    if example.output_file and (workdir / example.output_file).exists():
        body = (workdir / example.output_file).read_text(encoding="utf-8")
    problems.extend(f"{where}: {problem}" for problem in answer_problems(example, body))
    return problems


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_every_curl_in_the_api_docs_answers_as_documented(live_server, settings, tmp_path):
    doc = read(DOCS)
    assert len(doc.examples) > 30
    values = demo_values(live_server.url, settings)
    # Every value the reader fills in is filled in, and only values the docs set at the top.
    assert doc.placeholders <= set(values) <= set(doc.settings)
    env = {name: os.environ[name] for name in PASSED_THROUGH if name in os.environ}
    env.update({name: value.strip("'\"") for name, value in doc.settings.items() if name not in values})
    env.update(values)
    assert env.get("PRINT_ID") == DOCS_PRINT_ID
    env["PRINT_ID"] = TEEING_PRINT_ID
    captured = tmp_path / "kept-answer.json"
    answers: Answers = {}
    problems: list[str] = []

    # One after the other, as in one shell: what an example keeps in a variable, the next ones use.
    for example in doc.examples:
        if example.route in BEFORE:
            env.update(BEFORE[example.route](answers))
        unknown = example.variables - env.keys()
        assert not unknown, f"docs/api.md:{example.line} uses {unknown}: set by no earlier example, nor at the top"
        captured.unlink(missing_ok=True)
        outcome = run(example, {**env, "__EXAMPLE_BODY": str(captured)}, tmp_path)
        env = {name: value for name, value in outcome.env.items() if name != "__EXAMPLE_BODY"}
        if outcome.stdout.startswith("{"):
            answers[example.route] = json.loads(outcome.stdout)
        problems.extend(problems_of(example, outcome, tmp_path, captured))

    assert not problems, "\n".join(problems)
    assert set(BEFORE) <= {example.route for example in doc.examples}, "a step is done before no example"


# --- how the docs are read ------------------------------------------------------------------------

SAMPLE = """Set these first:

```sh
export CH=http://127.0.0.1:8000   # where it answers
export KEY=sk_test_...            # yours
export PRINT_ID='import json, sys; print(json.load(sys.stdin)["id"])'
```

```sh
# charge, keeping the id
PAYMENT_ID=$(curl -s -X POST $CH/api/v1/payments -H "Authorization: Bearer $KEY" \\
  -d '{"amount": 1050,
       "currency": "USD"}' | python3 -c "$PRINT_ID")
# 201 {"id": "pay_…", "status": "captured",
#      "amount_captured": 1050, "gateway_transaction_id": "40000000017"}
# refund it
curl -s -X POST $CH/api/v1/payments/$PAYMENT_ID/refunds -H "Authorization: Bearer $KEY" -d '{"payment": "'$PAYMENT_ID'"}'
```
```json
{"object": "refund", "status": "succeeded"}
```

```sh
curl -s "$CH/api/v1/reports/settlements?format=csv" -H "Authorization: Bearer $KEY" -o out.csv
# 200
# day,currency,…
# 2026-11-24,USD
curl -s $CH/api/v1/merchant -H "Authorization: Basic abc"
# 401 {"error": {"code": "authorization_malformed", …}}
```
"""


def test_the_docs_are_read_as_a_reader_reads_them():
    doc = parse(SAMPLE)

    assert doc.settings["CH"] == "http://127.0.0.1:8000" and doc.placeholders == {"KEY"}
    charge, refund, report, malformed = doc.examples
    assert (charge.line, charge.route, charge.assigns) == (11, "POST /api/v1/payments", "PAYMENT_ID")
    assert charge.status == 201
    assert charge.command.endswith('"currency": "USD"}\' | python3 -c "$PRINT_ID")')
    assert charge.variables == {"CH", "KEY", "PRINT_ID"}
    assert "amount_captured" in charge.answer and "refund it" not in charge.answer
    assert refund.route == "POST /api/v1/payments/$PAYMENT_ID/refunds" and refund.status is None
    assert refund.variables == {"CH", "KEY", "PAYMENT_ID"}
    assert refund.answer == '{"object": "refund", "status": "succeeded"}'
    assert (report.route, report.status, report.output_file) == ("GET /api/v1/reports/settlements", 200, "out.csv")
    assert report.answer.startswith("day,currency,…")
    assert (malformed.route, malformed.status) == ("GET /api/v1/merchant", 401)


def test_an_answer_is_held_to_the_values_the_docs_show_but_not_to_the_elided_ones():
    charge = parse(SAMPLE).examples[0]
    real = {"id": "pay_1", "status": "captured", "amount_captured": 1050, "gateway_transaction_id": "1"}

    assert answer_problems(charge, json.dumps(real)) == []
    assert answer_problems(charge, json.dumps({**real, "status": "authorized"})) == [
        'documented status: "captured" is not in the answer'
    ]
    assert answer_problems(charge, json.dumps({**real, "amount_captured": "1050"})) == [
        "documented amount_captured: 1050 is not in the answer"
    ]
    assert answer_problems(charge, "<html>") == ["the answer is not JSON: '<html>'"]


def test_a_text_answer_is_held_to_its_first_line():
    report = parse(SAMPLE).examples[2]

    assert answer_problems(report, "day,currency,batches\n2026-12-01,USD,1\n") == []
    assert answer_problems(report, "currency,day\n") == ["answer starts 'currency,day', documented 'day,currency,'"]
