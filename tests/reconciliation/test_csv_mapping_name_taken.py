"""A CSV mapping's name is unique. Two saved with one name at the same moment both pass the admin
form's check (neither sees the other yet); the database refuses the second, and the services turn
that into the form's own error for a taken name: the admin shows it beside the name (before: an
IntegrityError, a 500). Real threads on PostgreSQL for the race."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from apps.accounts import roles
from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from apps.reconciliation.models import CsvMapping
from apps.reconciliation.services import CSV_MAPPING_FIELDS, csv_mapping_create, csv_mapping_update
from tests.helpers import in_a_thread, wait_for_a_lock_wait
from tests.reconciliation.test_admin_csv_mappings import FORM, MAPPINGS

SYSTEM = Actor.system("tests")
TAKEN = "CSV column mapping with this Name already exists."
VALUES = {name: value for name, value in FORM.items() if name in CSV_MAPPING_FIELDS}


def form_errors(content: bytes) -> str:
    html = content.decode()
    return html[html.find('class="errorlist') :][:300] if 'class="errorlist' in html else ""


@pytest.mark.django_db
def test_the_form_refuses_a_taken_name_with_the_error_the_services_give(staff_client):
    csv_mapping_create(values=VALUES, actor=SYSTEM)

    page = staff_client(roles.FINANCE_OPERATOR).post(f"{MAPPINGS}add/", FORM)
    with pytest.raises(ValidationError) as refused:
        csv_mapping_create(values=VALUES, actor=SYSTEM)  # as if the form's check had passed

    assert page.status_code == 200 and TAKEN in form_errors(page.content)
    assert refused.value.message_dict == {"name": [TAKEN]}
    assert CsvMapping.objects.count() == 1
    assert AuditEvent.objects.filter(action="csv_mapping.created").count() == 1


@pytest.mark.django_db
def test_a_rename_to_a_taken_name_is_the_same_error_and_changes_nothing():
    csv_mapping_create(values=VALUES, actor=SYSTEM)
    other = csv_mapping_create(values=VALUES | {"name": "Other export"}, actor=SYSTEM)

    with pytest.raises(ValidationError) as refused:
        csv_mapping_update(mapping=other, changes={"name": FORM["name"], "amount_column": "net"}, actor=SYSTEM)

    assert refused.value.message_dict == {"name": [TAKEN]}
    other.refresh_from_db()
    assert (other.name, other.amount_column) == ("Other export", "amount")
    assert not AuditEvent.objects.filter(action="csv_mapping.updated").exists()


@pytest.mark.django_db(transaction=True)
def test_two_mappings_saved_with_one_name_at_once_give_the_second_a_form_error(staff_client):
    staff = staff_client(roles.FINANCE_OPERATOR)
    answers: list[object] = []

    def add_in_the_admin() -> None:
        try:
            answers.append(staff.post(f"{MAPPINGS}add/", FORM))
        except Exception as exc:  # the test client raises a view's exception: that was a 500
            answers.append(exc)

    with transaction.atomic():  # the other save: its row inserted, not committed yet
        csv_mapping_create(values=VALUES, actor=SYSTEM)
        thread = in_a_thread(add_in_the_admin)
        wait_for_a_lock_wait("the admin's insert")  # past the form's check, waiting on the name
    thread.join(timeout=20)

    assert len(answers) == 1 and not isinstance(answers[0], Exception), answers
    page = answers[0]
    assert page.status_code == 200 and TAKEN in form_errors(page.content)  # type: ignore[attr-defined]
    assert CsvMapping.objects.count() == 1
    assert AuditEvent.objects.filter(action="csv_mapping.created").count() == 1
