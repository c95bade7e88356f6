"""Agreement verbs: validation with readable messages, targets journaled with the agreement,
and the choice of agreement for a customer and a service (most specific first)."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from itline.core.journal import entries_for
from itline.core.testing import make_unit, make_user
from itline.operation.testing import make_service
from itline.org.models import Customer
from itline.relations import services
from itline.relations.models import Agreement

TARGETS = [
    {"priority": 1, "response_minutes": 15, "resolution_minutes": 240},
    {"priority": 3, "response_minutes": 120, "resolution_minutes": 960},
]


def customer(name):
    c = Customer(business_unit=make_unit(name))
    c.save()
    return c


def agreement(name, **fields):
    return services.create_agreement(by=None, name=name, targets=TARGETS, **fields)


@pytest.mark.django_db
def test_an_agreement_is_created_with_its_targets_in_one_journal_row():
    created = agreement("Standard", is_default=True)
    assert services.targets_by_priority(created) == {1: (15, 240), 3: (120, 960)}
    [row] = entries_for(created)
    assert row.verb == "created"
    assert row.changes["targets"][1] == [
        "P1: response 15 min, resolution 240 min",
        "P3: response 120 min, resolution 960 min",
    ]


@pytest.mark.django_db
def test_replacing_the_targets_journals_before_and_after_and_a_no_change_writes_nothing():
    created = agreement("Standard", is_default=True)
    services.set_targets(
        created, [{"priority": 2, "response_minutes": 30, "resolution_minutes": 480}], by=None
    )
    assert services.targets_by_priority(created) == {2: (30, 480)}
    rows = list(entries_for(created))
    assert rows[-1].changes["targets"][1] == ["P2: response 30 min, resolution 480 min"]
    services.update_agreement(
        created,
        by=None,
        name="Standard",
        targets=[{"priority": 2, "response_minutes": 30, "resolution_minutes": 480}],
    )
    assert len(entries_for(created)) == len(rows)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("targets", "field"),
    [
        ([{"priority": 5, "response_minutes": 1, "resolution_minutes": 2}], "targets.0.priority"),
        (
            [{"priority": 1, "response_minutes": 0, "resolution_minutes": 2}],
            "targets.0.response_minutes",
        ),
        (
            [{"priority": 1, "response_minutes": 50, "resolution_minutes": 20}],
            "targets.0.response_minutes",
        ),
        (
            [
                {"priority": 2, "response_minutes": 1, "resolution_minutes": 2},
                {"priority": 2, "response_minutes": 3, "resolution_minutes": 4},
            ],
            "targets.1.priority",
        ),
        ([{"priority": 1, "response_minutes": 5}], "targets.0"),
        (
            [{"priority": "one", "response_minutes": 5, "resolution_minutes": 9}],
            "targets.0.priority",
        ),
        ("P1 15/240", "targets"),
    ],
)
def test_bad_targets_are_refused_naming_the_place(targets, field):
    with pytest.raises(ValidationError) as caught:
        services.create_agreement(by=None, name="Bad", is_default=True, targets=targets)
    assert field in caught.value.message_dict
    assert not Agreement.objects.exists()


@pytest.mark.django_db
def test_there_is_one_default_agreement_and_it_names_no_customer_or_service():
    agreement("Standard", is_default=True)
    with pytest.raises(ValidationError) as caught:
        agreement("Other", is_default=True)
    assert "already the default" in caught.value.message_dict["is_default"][0]
    with pytest.raises(ValidationError) as caught:
        agreement("Odd", is_default=True, service=make_service("Mail"))
    assert "is_default" in caught.value.message_dict


@pytest.mark.django_db
def test_an_agreement_names_a_customer_a_service_or_is_the_default():
    with pytest.raises(ValidationError) as caught:
        agreement("Nothing")
    assert "service" in caught.value.message_dict


@pytest.mark.django_db
def test_two_active_agreements_cannot_cover_the_same_customer_and_service():
    mail = make_service("Mail")
    agreement("Mail for all", service=mail)
    with pytest.raises(ValidationError) as caught:
        agreement("Mail again", service=mail)
    assert "already covers" in caught.value.message_dict["service"][0]
    agreement("Mail, old", service=mail, active=False)  # inactive ones do not clash


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("warning_percent", 0),
        ("warning_percent", 100),
        ("pause_states", ["sleeping"]),
        ("pause_states", "waiting_for_customer"),
    ],
)
def test_bad_fields_are_refused_with_their_name(field, value):
    with pytest.raises(ValidationError) as caught:
        agreement("Bad", is_default=True, **{field: value})
    assert field in caught.value.message_dict


@pytest.mark.django_db
def test_the_most_specific_active_agreement_applies():
    retail, finance = customer("Retail"), customer("Finance")
    mail, shop = make_service("Mail"), make_service("Web shop")
    default = agreement("Standard", is_default=True)
    for_mail = agreement("Mail for everyone", service=mail)
    for_retail = agreement("Retail", customer=retail)
    retail_mail = agreement("Retail mail", customer=retail, service=mail)
    assert services.agreement_for(customer=retail, service=mail) == retail_mail
    assert services.agreement_for(customer=finance, service=mail) == for_mail
    assert services.agreement_for(customer=retail, service=shop) == for_retail
    assert services.agreement_for(customer=finance, service=shop) == default
    assert services.agreement_for(customer=None, service=None) == default
    assert services.agreement_for(customer=retail, service=None) == for_retail
    services.update_agreement(retail_mail, by=None, active=False)
    assert services.agreement_for(customer=retail, service=mail) == for_mail


@pytest.mark.django_db
def test_without_a_default_nothing_may_apply():
    assert services.agreement_for(customer=None, service=make_service("Mail")) is None


@pytest.mark.django_db
def test_only_service_owners_and_administrators_manage_agreements():
    technician = make_user("tom", "technician")
    owner = make_user("sam", "service_owner")
    admin = make_user("ada", "administrator")
    with pytest.raises(PermissionDenied):
        services.create_agreement(by=technician, name="Mine", is_default=True)
    created = services.create_agreement(by=owner, name="Standard", is_default=True)
    services.update_agreement(created, by=owner, warning_percent=80)
    with pytest.raises(PermissionDenied):
        services.delete_agreement(created, by=owner)
    services.delete_agreement(created, by=admin)
    assert not Agreement.objects.exists()
    assert services.agreements_for(technician).model is Agreement
    assert not services.agreements_for(make_user("rita", "requester")).exists()
