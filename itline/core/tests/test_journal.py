import pytest

from itline.core import journal
from itline.core.models import JournalEntry
from itline.core.services import create_record, update_record
from itline.core.testing import make_person, make_unit, make_user
from itline.org.models import Function


@pytest.mark.django_db
def test_creating_a_record_journals_its_initial_values_and_the_actor():
    admin = make_user("admin", "administrator")
    lead = make_person("Nadia Nowak")
    function = create_record(Function(name="Service Desk", lead=lead), by=admin)
    [entry] = journal.entries_for(function)
    assert entry.verb == JournalEntry.Verb.CREATED
    assert entry.actor == admin
    assert entry.changes["name"] == [None, "Service Desk"]
    assert entry.changes["lead"] == [None, "Nadia Nowak"]
    assert function.created_by == admin


@pytest.mark.django_db
def test_an_edit_journals_before_and_after_of_only_the_changed_fields():
    function = create_record(Function(name="Service Desk"), by=None)
    update_record(function, by=None, name="Service Desk", description="First line")
    entries = list(journal.entries_for(function))
    assert [e.verb for e in entries] == ["created", "updated"]
    assert entries[1].changes == {"description": ["", "First line"]}
    assert entries[1].actor_label == "system"


@pytest.mark.django_db
def test_an_edit_that_changes_nothing_writes_nothing():
    function = create_record(Function(name="CAB"), by=None)
    update_record(function, by=None, name="CAB")
    assert journal.entries_for(function).count() == 1


@pytest.mark.django_db
def test_an_invalid_edit_raises_and_leaves_record_and_journal_untouched():
    from django.core.exceptions import ValidationError

    create_record(Function(name="Taken"), by=None)
    function = create_record(Function(name="Other"), by=None)
    with pytest.raises(ValidationError) as exc:
        update_record(function, by=None, name="Taken")
    assert "name" in exc.value.message_dict
    function.refresh_from_db()
    assert function.name == "Other"
    assert journal.entries_for(function).count() == 1


@pytest.mark.django_db
def test_foreign_keys_are_journaled_by_their_display_name():
    unit = make_unit("Finance")
    person = make_person("Rosa")
    update_record(person, by=None, business_unit=unit)
    entry = journal.entries_for(person).last()
    assert entry.changes == {"business_unit": [None, "Finance"]}


@pytest.mark.django_db
def test_updating_an_unknown_field_is_a_programming_error():
    function = create_record(Function(name="X"), by=None)
    with pytest.raises(ValueError, match="not editable"):
        update_record(function, by=None, reference="FUN-999999")
