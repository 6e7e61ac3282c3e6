"""The runner of Authorize.Net's public sample scripts (`manage.py sandbox_anet_samples`), on
scripts of our own written in the same shape (theirs are not ours to commit): each runs in its own
process with the constants.py it loads, its own call is made with our ids, and it is classed."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from apps.sandbox.anet_samples import Result, main_call, table

pytestmark = pytest.mark.django_db(transaction=True)

HEAD = """import os, sys
import imp
from decimal import Decimal
from authorizenet import apicontractsv1
from authorizenet.apicontrollers import *
constants = imp.load_source('modulename', 'constants.py')

def auth():
    return apicontractsv1.merchantAuthenticationType(name=constants.apiLoginId, transactionKey=constants.transactionKey)

def card():
    return apicontractsv1.paymentType(creditCard=apicontractsv1.creditCardType(cardNumber="4111111111111111", expirationDate="2035-12"))

def transact(kind, amount=None, ref=None):
    request = apicontractsv1.transactionRequestType(transactionType=kind)
    if amount is not None:
        request.amount = Decimal(amount)
        request.payment = card()
    if ref is not None:
        request.refTransId = ref
    controller = createTransactionController(apicontractsv1.createTransactionRequest(merchantAuthentication=auth(), transactionRequest=request))
    controller.execute()
    return controller.getresponse()
"""

SCRIPTS = {
    "PaymentTransactions/charge-credit-card.py": """
def charge_credit_card(amount):
    return transact("authCaptureTransaction", amount)

if(os.path.basename(__file__) == os.path.basename(sys.argv[0])):
    charge_credit_card(constants.amount)
""",
    "PaymentTransactions/authorize-credit-card.py": """
def authorize_credit_card(amount):
    return transact("authOnlyTransaction", amount)

if(os.path.basename(__file__) == os.path.basename(sys.argv[0])):
    authorize_credit_card(constants.amount + str(100))
""",
    "PaymentTransactions/void-transaction.py": """
def void_transaction(ref):
    return transact("voidTransaction", ref=ref)

if(os.path.basename(__file__) == os.path.basename(sys.argv[0])):
    void_transaction(constants.transactionId)
""",
    "PaymentTransactions/update-split-tender-group.py": """
def update_split_tender_group():
    request = apicontractsv1.updateSplitTenderGroupRequest(merchantAuthentication=auth(), splitTenderId="115901", splitTenderStatus="voided")
    controller = updateSplitTenderGroupController(request)
    controller.execute()
    return controller.getresponse()

if(os.path.basename(__file__) == os.path.basename(sys.argv[0])):
    update_split_tender_group()
""",
    "TransactionReporting/get-transaction-details.py": """
def get_transaction_details(transId):
    controller = getTransactionDetailsController(apicontractsv1.getTransactionDetailsRequest(merchantAuthentication=auth(), transId=transId))
    controller.execute()
    return controller.getresponse()

if(os.path.basename(__file__) == os.path.basename(sys.argv[0])):
    get_transaction_details("1")
""",
    "TransactionReporting/get-unsettled-transaction-list.py": """
def get_unsettled_transaction_list():
    raise RuntimeError("the script's own bug")

if(os.path.basename(__file__) == os.path.basename(sys.argv[0])):
    get_unsettled_transaction_list()
""",
    "CustomerProfiles/get-customer-profile.py": """
def get_customer_profile(profile_id):
    print "python 2"
""",
    "RecurringBilling/get-subscription-status.py": """
def get_subscription_status(subscription_id):
    controller = ARBGetSubscriptionStatusController(apicontractsv1.ARBGetSubscriptionStatusRequest(merchantAuthentication=auth(), subscriptionId="99"))
    controller.execute()
    return controller.getresponse()

if(os.path.basename(__file__) == os.path.basename(sys.argv[0])):
    get_subscription_status(constants.subscriptionId)
""",
}


@pytest.fixture
def samples(tmp_path: Path) -> Path:
    for name, body in SCRIPTS.items():
        path = tmp_path / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(HEAD + body)
    return tmp_path


def run(samples: Path, endpoint: str, *only: str) -> str:
    out = StringIO()
    with pytest.raises(SystemExit) as stopped:
        call_command("sandbox_anet_samples", str(samples), endpoint=endpoint, only=list(only), stdout=out)
    assert stopped.value.code == 1  # a crash and an undocumented error
    return out.getvalue()


def test_each_script_runs_unmodified_and_is_classed(samples, anet_sandbox, settings):
    output = run(samples, settings.AUTHORIZENET_TEST_ENDPOINT)

    lines = {word: line for line in output.splitlines() for word in line.split() if word.endswith(".py")}
    assert lines["PaymentTransactions/charge-credit-card.py"].startswith("pass ")
    # its call names a constant transaction id: ours is a fresh authorization, which voids
    assert lines["PaymentTransactions/void-transaction.py"].startswith("pass ")
    # an id hard-coded in the script that no account of ours holds: the documented answer
    assert lines["PaymentTransactions/update-split-tender-group.py"].startswith("documented ")
    assert "E00040" in lines["TransactionReporting/get-transaction-details.py"]
    assert lines["TransactionReporting/get-unsettled-transaction-list.py"].startswith("crash ")
    assert "RuntimeError: the script's own bug" in lines["TransactionReporting/get-unsettled-transaction-list.py"]
    assert lines["CustomerProfiles/get-customer-profile.py"].startswith("python 2 ")
    assert lines["RecurringBilling/get-subscription-status.py"].startswith("error ")
    assert "| PaymentTransactions | 4 | 3 | 1 | 0 | 0 | 0 | 0 |" in output


def test_the_main_call_is_read_from_the_script(samples):
    call = main_call(samples / "PaymentTransactions/authorize-credit-card.py")

    assert call.function == "authorize_credit_card"
    assert call.arguments == [("random-amount",)]  # an expression of constants: a fresh amount
    assert main_call(samples / "PaymentTransactions/void-transaction.py").arguments == [("constant", "transactionId")]


def test_a_folder_that_is_not_the_samples_is_refused(tmp_path):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="not a checkout of sample-code-python"):
        call_command("sandbox_anet_samples", str(tmp_path))


def test_the_table_counts_per_folder():
    results = [Result("PaymentTransactions/a.py", "pass"), Result("CustomerProfiles/b.py", "crash")]

    assert "| All | 2 | 1 | 0 | 0 | 0 | 1 | 0 |" in table(results)
