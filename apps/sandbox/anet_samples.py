"""Authorize.Net's public sample scripts (github.com/AuthorizeNet/sample-code-python) run unmodified
against a running Authorize.Net sandbox: the sandbox's conformance suite.

Each script runs in a process of its own, in a folder holding the `constants.py` the scripts load
(our sandbox account's credentials and ids made for the script), with the SDK pointed at the
sandbox. The call made is the script's own (`if __file__ == argv[0]: fn(...)`), with the ids it
needs taken from scripts run before it, as the repository's own test runner chains them; scripts
whose call names a hard-coded id get one of ours. A result is `pass` (resultCode Ok), `documented`
(the error a real account answers for that request, listed below), `error` (any other error),
`no answer` (the SDK got nothing it could parse) or `crash` (the script raised).

The scripts are someone else's code: never copied into this repository; a developer fetches them.
"""

from __future__ import annotations

import ast
import json
import os
import random
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

FOLDERS = ("PaymentTransactions", "CustomerProfiles", "RecurringBilling", "TransactionReporting")

# Errors a real account answers for these requests, by script: a feature the account lacks, or an
# id hard-coded in the script that no account of ours holds.
# "The record cannot be found": the batch, transaction or split-tender id the script hard-codes
# belongs to Authorize.Net's own test account, and no other account finds it.
DOCUMENTED: dict[str, set[str]] = {
    "PaymentTransactions/update-split-tender-group.py": {"E00040"},
    "TransactionReporting/get-batch-statistics.py": {"E00040"},
    "TransactionReporting/get-transaction-details.py": {"E00040"},
    "TransactionReporting/get-transaction-list.py": {"E00040"},
}

# Runs in the script's folder: points the SDK at the sandbox, loads the script as a module (so its
# own __main__ call does not fire), makes the script's call and prints what came back as JSON.
_DRIVER = r"""
import importlib.util, json, sys, traceback
import authorizenet.constants
import constants as ours
authorizenet.constants.constants.SANDBOX = sys.argv[1]
# One script reads its credentials from the SDK's constants class rather than constants.py.
authorizenet.constants.constants.apiLoginId = ours.apiLoginId
authorizenet.constants.constants.transactionKey = ours.transactionKey
spec = importlib.util.spec_from_file_location("sample", sys.argv[2])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
for _ in range(int(sys.argv[5])):
    response = getattr(module, sys.argv[3])(*json.loads(sys.argv[4]))
out = {"answered": response is not None}
if response is not None:
    out["result"] = str(response.messages.resultCode)
    out["codes"] = [str(m["code"].text) for m in response.messages.message]
    out["texts"] = [str(m["text"].text) for m in response.messages.message]
    for name in ("customerProfileId", "subscriptionId", "customerAddressId", "customerPaymentProfileId"):
        value = getattr(response, name, None)
        if value is not None:
            out[name] = str(value)
    for name in ("customerPaymentProfileIdList", "customerShippingAddressIdList"):
        value = getattr(response, name, None)
        if value is not None:
            out[name] = [str(item) for item in getattr(value, "numericString", [])]
    tr = getattr(response, "transactionResponse", None)
    if tr is not None:
        out["transId"] = str(getattr(tr, "transId", "") or "")
        errors = getattr(tr, "errors", None)
        if errors is not None:
            out["codes"] += [str(e.errorCode) for e in errors.error]
            out["texts"] += [str(e.errorText) for e in errors.error]
print("\n@@RESULT@@" + json.dumps(out))
"""

# Fixtures no script makes, made with the SDK: a settled charge to the card ending 0015
# (refund-transaction.py refunds it), a saved card expiring in the month
# get-customer-payment-profile-list.py searches for, and a subscription starting today (billed
# by the sandbox's run, so get-subscription.py finds its payments).
_FIXTURE = r"""
import sys
from datetime import date
from decimal import Decimal
import authorizenet.constants
from authorizenet import apicontractsv1 as c
from authorizenet.apicontrollers import (
    ARBCreateSubscriptionController, createCustomerProfileController, createTransactionController,
)
import constants as ours
authorizenet.constants.constants.SANDBOX = sys.argv[1]
auth = c.merchantAuthenticationType(name=ours.apiLoginId, transactionKey=ours.transactionKey)
kind, number, value = sys.argv[2:5]
card = c.paymentType(creditCard=c.creditCardType(cardNumber=number, expirationDate="2035-12"))
if kind == "charge":
    request = c.transactionRequestType(transactionType="authCaptureTransaction", amount=Decimal(value), payment=card)
    body = c.createTransactionRequest(merchantAuthentication=auth, transactionRequest=request)
    controller = createTransactionController(body)
    controller.execute()
    print("@@RESULT@@" + str(controller.getresponse().transactionResponse.transId))
elif kind == "expiring":
    card.creditCard.expirationDate = value
    profile = c.customerProfileType(
        merchantCustomerId="exp" + value, email="expiring-" + value + "@example.com",
        paymentProfiles=[c.customerPaymentProfileType(customerType="individual", payment=card)],
    )
    body = c.createCustomerProfileRequest(merchantAuthentication=auth, profile=profile)
    controller = createCustomerProfileController(body)
    controller.execute()
    print("@@RESULT@@" + str(controller.getresponse().customerProfileId))
else:
    schedule = c.paymentScheduleType(
        interval=c.paymentScheduleTypeInterval(length=7, unit="days"), startDate=date.today(), totalOccurrences=12,
    )
    subscription = c.ARBSubscriptionType(
        name="Sample", paymentSchedule=schedule, amount=Decimal(value), payment=card,
        billTo=c.nameAndAddressType(firstName="John", lastName="Smith"),
    )
    body = c.ARBCreateSubscriptionRequest(merchantAuthentication=auth, subscription=subscription)
    controller = ARBCreateSubscriptionController(body)
    controller.execute()
    print("@@RESULT@@" + str(controller.getresponse().subscriptionId))
"""

# A stand-in for the `imp` module the scripts import, removed in Python 3.12.
_IMP = """import importlib.machinery, importlib.util
def load_source(name, path):
    loader = importlib.machinery.SourceFileLoader(name, path)
    spec = importlib.util.spec_from_loader(name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module
"""


@dataclass
class Result:
    script: str
    outcome: str
    codes: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    detail: dict[str, object] = field(default_factory=dict)

    @property
    def folder(self) -> str:
        return self.script.split("/", 1)[0]


@dataclass
class Account:
    login: str
    key: str


@dataclass
class Fixtures:
    """Ids the scripts need, made by running earlier scripts against the sandbox."""

    settled: str = ""
    profile: str = ""
    payment_profile: str = ""
    shipping: str = ""
    subscription: str = ""


class SampleRunner:
    def __init__(
        self,
        samples: Path,
        endpoint: str,
        account: Account,
        *,
        settle: Callable[[], None],
        bill: Callable[[], None],
        python: str = sys.executable,
    ) -> None:
        self.samples = samples
        self.endpoint = endpoint
        self.account = account
        self.settle = settle
        self.bill = bill
        self.python = python
        self.fixtures = Fixtures()

    # --- one script ---------------------------------------------------------------------------

    def constants(self) -> str:
        values = {
            "apiLoginId": self.account.login,
            "transactionKey": self.account.key,
            "transactionId": self.fixtures.settled or "0",
            "payerId": "LM6NCLZ5RAKBY",
            "customerProfileId": self.fixtures.profile or "0",
            "customerPaymentProfileId": self.fixtures.payment_profile or "0",
            "customerProfileShippingId": self.fixtures.shipping or "0",
            "amount": f"{random.randint(100, 99_999) / 100:.2f}",  # noqa: S311 - distinct amounts, not secrets
            "subscriptionId": self.fixtures.subscription or "0",
        }
        lines = [f"{name} = {value!r}" for name, value in values.items()]
        return "\n".join([*lines, "days = 34", ""])

    def call(self, script: str, function: str, args: Iterable[object], times: int = 1) -> Result:
        with tempfile.TemporaryDirectory(prefix="anet-sample-") as folder:
            work = Path(folder)
            (work / "constants.py").write_text(self.constants())
            if sys.version_info >= (3, 12):
                (work / "imp.py").write_text(_IMP)
            env = {**os.environ, "PYTHONPATH": folder, "PYTHONWARNINGS": "ignore"}
            command = [self.python, "-c", _DRIVER, self.endpoint, str(self.samples / script), function]
            completed = subprocess.run(  # noqa: S603 - our own interpreter and driver
                [*command, json.dumps(list(args)), str(times)],
                check=False,
                cwd=folder,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
        marker = completed.stdout.rpartition("@@RESULT@@")
        if completed.returncode != 0 or not marker[1]:
            last = (completed.stderr.strip().splitlines() or [f"exit status {completed.returncode}"])[-1]
            return Result(script, "crash", texts=[last])
        data = json.loads(marker[2])
        if not data["answered"]:
            return Result(script, "no answer", detail=data)
        codes, texts = data.get("codes", []), data.get("texts", [])
        if data["result"] == "Ok":
            outcome = "pass"
        elif set(codes) & DOCUMENTED.get(script, set()):
            outcome = "documented"
        else:
            outcome = "error"
        return Result(script, outcome, codes, texts, data)

    # --- fixtures, from the scripts themselves --------------------------------------------------

    def _amount(self) -> str:
        return f"{random.randint(300, 99_999) / 100:.2f}"  # noqa: S311 - distinct amounts, not secrets

    def _id(self, script: str, function: str, args: list[object], name: str) -> str:
        return str(self.call(script, function, args).detail.get(name, ""))

    def fresh_auth(self) -> str:
        return self._id(
            "PaymentTransactions/authorize-credit-card.py", "authorize_credit_card", [self._amount()], "transId"
        )

    def fresh_profile(self, *, card: bool = True, address: bool = True) -> tuple[str, str, str]:
        profile = self._id(
            "CustomerProfiles/create-customer-profile.py", "create_customer_profile", [], "customerProfileId"
        )
        card_id = address_id = ""
        if card:
            card_id = self._id(
                "CustomerProfiles/create-customer-payment-profile.py", "create_customer_payment_profile", [profile],
                "customerPaymentProfileId",
            )  # fmt: skip
        if address:
            address_id = self._id(
                "CustomerProfiles/create-customer-shipping-address.py", "create_customer_shipping_address", [profile],
                "customerAddressId",
            )  # fmt: skip
        return profile, card_id, address_id

    def fresh_subscription(self) -> str:
        return self._id(
            "RecurringBilling/create-subscription.py", "create_subscription", [self._amount(), 34], "subscriptionId"
        )

    def use(self, *, profile: bool = False, subscription: bool = False, settled: bool = False) -> None:
        """Fresh objects for the next script (one script may delete or cancel what it is given)."""
        if profile:
            self.fixtures.profile, self.fixtures.payment_profile, self.fixtures.shipping = self.fresh_profile()
        if subscription:
            self.fixtures.subscription = self.fresh_subscription()
        if settled:
            # refund-transaction.py refunds $2.55 to the card ending 0015 of a settled transaction.
            self.fixtures.settled = self.fixture("charge", "5424000000000015", self._amount())
            self.settle()

    def fixture(self, kind: str, number: str, value: str) -> str:
        with tempfile.TemporaryDirectory(prefix="anet-sample-") as folder:
            (Path(folder) / "constants.py").write_text(self.constants())
            completed = subprocess.run(  # noqa: S603 - our own interpreter and driver
                [self.python, "-c", _FIXTURE, self.endpoint, kind, number, value],
                check=False, cwd=folder, env={**os.environ, "PYTHONPATH": folder}, capture_output=True, text=True,
                timeout=60,
            )  # fmt: skip
        return completed.stdout.strip().rpartition("@@RESULT@@")[2]

    def billed_subscription(self) -> str:
        """A subscription whose first payment the sandbox's run has made."""
        subscription = self.fixture("subscription", "4111111111111111", self._amount())
        self.bill()
        return subscription

    # --- every script ---------------------------------------------------------------------------

    def scripts(self) -> list[str]:
        return sorted(f"{folder}/{path.name}" for folder in FOLDERS for path in (self.samples / folder).glob("*.py"))

    def arguments(self, script: str) -> tuple[str, list[object]]:
        """The script's own call (function and arguments), with fresh ids from our fixtures where it
        needs them, and ours instead of an id its call names, as the repository's test runner does."""
        call = main_call(self.samples / script)
        name = script.split("/", 1)[1]
        if name == "get-customer-profile-ids.py":  # it prints the first 19 ids: an account with 20 profiles
            self.call("CustomerProfiles/create-customer-profile.py", "create_customer_profile", [], times=20)
        elif name == "get-customer-payment-profile-list.py":  # it lists the cards expiring in one month
            searched = re.search(r'month = "([0-9]{4}-[0-9]{2})"', (self.samples / script).read_text())
            self.fixture("expiring", "4007000000027", searched.group(1) if searched else "2020-12")
        elif name == "get-subscription.py":  # it lists the subscription's payments: one with a payment
            self.fixtures.subscription = self.billed_subscription()
        elif name in ("refund-transaction.py", "create-customer-profile-from-transaction.py"):
            self.use(settled=True)
        elif name.startswith(("create-customer-payment-profile", "create-customer-shipping")):
            self.fixtures.profile = self.fresh_profile(card=False, address=False)[0]
        elif script.startswith("CustomerProfiles/") or name in ("charge-customer-profile.py",):
            self.use(profile=True)
        elif script.startswith("RecurringBilling/") and name != "get-subscription.py":
            self.use(profile=name.endswith("from-customer-profile.py"), subscription=True)
        fixtures = self.fixtures
        overrides: dict[str, Callable[[], list[object]]] = {
            "PaymentTransactions/capture-previously-authorized-amount.py": lambda: [self.fresh_auth()],
            "PaymentTransactions/void-transaction.py": lambda: [self.fresh_auth()],
            "RecurringBilling/create-subscription-from-customer-profile.py": lambda: [
                self._amount(),
                34,
                fixtures.profile,
                fixtures.payment_profile,
                fixtures.shipping,
            ],
            "TransactionReporting/get-customer-profile-transaction-list.py": lambda: [self.charged_profile()],
        }
        if script in overrides:
            return call.function, overrides[script]()
        return call.function, call.evaluate(self.constants_namespace())

    def charged_profile(self) -> str:
        self.use(profile=True)
        self.call(
            "PaymentTransactions/charge-customer-profile.py", "charge_customer_profile",
            [self.fixtures.profile, self.fixtures.payment_profile, self._amount()],
        )  # fmt: skip
        return self.fixtures.profile

    def constants_namespace(self) -> dict[str, object]:
        namespace: dict[str, object] = {}
        exec(self.constants(), namespace)  # noqa: S102 - the constants we just wrote
        return namespace

    def run(self, only: Iterable[str] = ()) -> list[Result]:
        wanted = set(only)
        results = []
        for script in self.scripts():
            if wanted and script not in wanted and script.split("/")[0] not in wanted:
                continue
            try:
                function, args = self.arguments(script)
            except SyntaxError as exc:  # a Python 2 script: it cannot run here, whatever the sandbox does
                results.append(Result(script, "python 2", texts=[f"line {exc.lineno}: {exc.msg}"]))
                continue
            results.append(self.call(script, function, args))
        return results


@dataclass
class MainCall:
    function: str
    arguments: list[object]  # literals, or ("constant", name), or ("random-amount",)

    def evaluate(self, constants: dict[str, object]) -> list[object]:
        values: list[object] = []
        for argument in self.arguments:
            if isinstance(argument, tuple) and argument[0] == "constant":
                values.append(constants[argument[1]])
            elif isinstance(argument, tuple):
                values.append(f"{random.randint(100, 9_999) / 100:.2f}")  # noqa: S311
            else:
                values.append(argument)
        return values


def main_call(path: Path) -> MainCall:
    """The call in a script's `if os.path.basename(__file__) == ...:` block, read from its syntax
    tree: constants become ("constant", name); an expression of random() becomes a fresh amount."""
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.If) and "__file__" in ast.unparse(node.test):
            for statement in node.body:
                if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call):
                    call = statement.value
                    return MainCall(ast.unparse(call.func), [_argument(arg) for arg in call.args])
    raise ValueError(f"{path.name}: no main call found")


def _argument(node: object) -> object:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return ("constant", node.attr)
    # An expression (`str(round(random.random()*100, 2))`, `CONSTANTS.amount + str(100)`): an
    # amount in each case, a fresh one, as the repository's test runner passes.
    return ("random-amount",)


def table(results: list[Result]) -> str:
    """Per folder: scripts, pass, documented error, other error, no answer, crash."""
    outcomes = ("pass", "documented", "error", "no answer", "crash", "python 2")
    rows = ["| Folder | Scripts | " + " | ".join(outcomes) + " |", "|---" * (len(outcomes) + 2) + "|"]
    for folder in [*FOLDERS, "All"]:
        mine = [result for result in results if folder in ("All", result.folder)]
        counts = [sum(result.outcome == outcome for result in mine) for outcome in outcomes]
        rows.append(f"| {folder} | {len(mine)} | " + " | ".join(str(count) for count in counts) + " |")
    return "\n".join(rows)
