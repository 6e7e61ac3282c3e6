"""CSV column mappings decide how settlement amounts are read into the ledger: adding, changing or
deleting one in the admin goes through audited services, and each batch imported through a
mapping records in its `settlement.imported` audit row the mapping as the file was read."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from apps.accounts import roles
from apps.audit.models import AuditEvent
from apps.payments.models import Payment
from apps.reconciliation.models import CsvMapping
from tests.accounts.factories import StaffUserFactory
from tests.payments.helpers import purchase
from tests.reconciliation.test_csv_upload import upload

MAPPINGS = "/admin/reconciliation/csvmapping/"
FORM = {
    "name": "Gateway export",
    "gateway": "other",
    "delimiter": ",",
    "transaction_id_column": "id",
    "amount_column": "amount",
    "amount_format": "decimal",
    "charge_values": "payment",
    "refund_values": "refund",
}


def minimal_mapping(**overrides):
    values = {"name": "minimal", "gateway": "other", "transaction_id_column": "id", "amount_column": "amount"}
    return CsvMapping.objects.create(**{**values, **overrides})


@pytest.mark.django_db
def test_an_operator_adds_a_mapping_and_it_is_audited(staff_client):
    staff = staff_client(roles.FINANCE_OPERATOR)

    page = staff.post(f"{MAPPINGS}add/", FORM)

    assert page.status_code == 302
    mapping = CsvMapping.objects.get()
    event = AuditEvent.objects.get(action="csv_mapping.created")
    assert event.actor_id == str(staff.user.pk)
    assert event.target_id == str(mapping.pk)
    assert event.after["id"] == mapping.pk
    assert (event.after["amount_column"], event.after["amount_format"]) == ("amount", "decimal")


@pytest.mark.django_db
def test_an_operator_changes_how_amounts_are_read_and_the_change_is_audited(staff_client):
    mapping = minimal_mapping(amount_format="decimal")
    staff = staff_client(roles.FINANCE_OPERATOR)

    page = staff.post(f"{MAPPINGS}{mapping.pk}/change/", FORM | {"name": "minimal", "amount_format": "minor"})

    assert page.status_code == 302
    mapping.refresh_from_db()
    assert mapping.amount_format == "minor"
    event = AuditEvent.objects.get(action="csv_mapping.updated")
    assert event.actor_id == str(staff.user.pk)
    assert event.before["amount_format"] == "decimal"
    assert event.after["amount_format"] == "minor"


@pytest.mark.django_db
def test_a_mapping_deleted_in_the_admin_is_audited_with_what_it_said(client):
    one, two = minimal_mapping(name="one"), minimal_mapping(name="two", amount_format="minor")
    client.force_login(StaffUserFactory(is_superuser=True))

    single = client.post(f"{MAPPINGS}{one.pk}/delete/", {"post": "yes"})
    bulk = client.post(MAPPINGS, {"action": "delete_selected", ACTION_CHECKBOX_NAME: [two.pk], "post": "yes"})

    assert (single.status_code, bulk.status_code) == (302, 302)
    assert not CsvMapping.objects.exists()
    deleted = AuditEvent.objects.filter(action="csv_mapping.deleted").order_by("id")
    assert [(event.target_id, event.before["name"]) for event in deleted] == [
        (str(one.pk), "one"),
        (str(two.pk), "two"),
    ]
    assert deleted[1].before["amount_format"] == "minor"


@pytest.mark.django_db
def test_an_operator_cannot_delete_a_mapping(staff_client):
    mapping = minimal_mapping()
    staff = staff_client(roles.FINANCE_OPERATOR)

    page = staff.post(f"{MAPPINGS}{mapping.pk}/delete/", {"post": "yes"})

    assert page.status_code == 403
    assert CsvMapping.objects.filter(pk=mapping.pk).exists()


def test_an_import_records_the_mapping_it_was_read_through(api, anet_account, staff_client):
    payment = Payment.objects.get(public_id=purchase(api, 1000).json()["id"])
    mapping = minimal_mapping(amount_format="minor")
    staff = staff_client(roles.FINANCE_OPERATOR)

    page = upload(staff, anet_account, mapping, f"id,amount\n{payment.gateway_transaction_id},1000\n".encode(),
                  batch_id="manual-1")  # fmt: skip

    assert b"1 batch(es) imported" in page.content
    imported = AuditEvent.objects.get(action="settlement.imported")
    assert imported.after["mapping"]["id"] == mapping.pk
    assert imported.after["mapping"]["amount_format"] == "minor"
    assert imported.after["mapping"]["amount_column"] == "amount"
