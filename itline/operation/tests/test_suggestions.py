"""Known errors suggested for incidents and requests, best first with a score and a reason;
similar open incidents; the text engine behind both."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from itline.cmdb import services as cmdb
from itline.cmdb.testing import make_component, relate
from itline.core.testing import make_user
from itline.operation import suggestions
from itline.operation.services import (
    create_incident,
    create_known_error,
    create_request,
    resolve_incident,
    update_known_error,
)
from itline.operation.suggestions import Corpus, stem, text_similarity, tokens


@pytest.fixture(autouse=True)
def _fresh_index():
    suggestions.forget()
    yield
    suggestions.forget()


def known_error(title, workaround="Restart it.", **fields):
    return create_known_error(by=None, title=title, workaround=workaround, **fields)


def test_words_are_normalised_so_plurals_and_tenses_meet():
    assert stem("timeouts") == "timeout"
    assert stem("failing") == stem("failed") == stem("fails") == "fail"
    assert stem("stopped") == "stop"
    assert tokens("Please help: the VPN logins are failing with ORA-12541!") == [
        "vpn",
        "login",
        "fail",
        "ora-12541",
        "ora",
        "12541",
    ]
    assert text_similarity("VPN login timeouts", "vpn login timeout") == pytest.approx(1.0)
    assert text_similarity("VPN login timeout", "printer paper jam") == 0.0


def test_rare_shared_words_weigh_more_than_common_ones():
    corpus = Corpus.build(
        [
            "printer error on floor 2",
            "outlook error when sending",
            "error in payroll export",
            "printer toner empty",
        ]
    )
    scores = corpus.similarity(corpus.vector("printer error"))
    # "printer" is rarer than "error": the printer documents come first
    assert scores.argsort()[::-1][:2].tolist() == [0, 3]


@pytest.mark.django_db
def test_the_obvious_known_error_comes_first_with_a_score_and_why():
    vpn = make_component("vpn-gw-01", "network-device")
    mail = cmdb.create_service(by=None, name="E-mail")
    obvious = known_error(
        "VPN login timeout after gateway upgrade",
        symptoms="Remote users see a timeout when they log in to the VPN.",
        workaround="Use the backup gateway vpn2.example.com.",
        component=vpn,
    )
    words_only = known_error("Login timeout in the payroll portal")
    same_place = known_error("VPN gateway fan noise", component=vpn)
    known_error("Outlook does not sync calendars", service=mail)
    known_error("Printer on floor 3 jams")

    incident = create_incident(
        by=None,
        title="Cannot log in to VPN: timeout",
        description="Several remote users report VPN login timeouts since this morning.",
        component=vpn,
    )
    found = suggestions.known_errors_for(incident)

    assert [s.record for s in found][:3] == [obvious, same_place, words_only]
    best = found[0]
    assert 0.5 < best.score <= 1
    assert best.score > found[1].score > 0
    assert "same component vpn-gw-01" in best.reason
    assert "shared words" in best.reason and "timeout" in best.terms
    assert all(s.record.title != "Printer on floor 3 jams" for s in found)


@pytest.mark.django_db
def test_a_known_error_on_a_component_the_service_needs_is_suggested_with_the_path():
    shop = cmdb.create_service(by=None, name="Web shop")
    db = make_component("shop-db", "database")
    relate(shop, db)
    on_db = known_error("Checkout hangs when the database is slow", component=db)
    incident = create_incident(by=None, title="Checkout hangs", service=shop)

    found = suggestions.known_errors_for(incident)

    assert found[0].record == on_db
    assert "which the affected record needs: Web shop" in found[0].reason
    assert "shop-db" in found[0].reason


@pytest.mark.django_db
def test_retired_and_changed_known_errors_are_seen_at_once():
    vpn = make_component("vpn-gw-01", "network-device")
    ke = known_error("VPN login timeout", component=vpn)
    incident = create_incident(by=None, title="VPN login timeout", component=vpn)
    assert [s.record for s in suggestions.known_errors_for(incident)] == [ke]
    update_known_error(ke, by=None, active=False)
    assert suggestions.known_errors_for(incident) == []
    other = known_error("VPN login timeout on iOS", component=vpn)
    assert [s.record for s in suggestions.known_errors_for(incident)] == [other]


@pytest.mark.django_db
def test_a_service_request_gets_suggestions_from_its_text_and_service():
    mail = cmdb.create_service(by=None, name="E-mail", catalogue_visible=True)
    ke = known_error("Outlook asks for the password again and again", service=mail)
    requester = make_user("rita", "requester")
    from itline.org.models import person_of

    request = create_request(
        by=requester,
        requester=person_of(requester),
        title="Outlook keeps asking for my password",
        request_type="fault_report",
        service=mail,
    )
    found = suggestions.known_errors_for(request)
    assert found[0].record == ke
    assert "same service E-mail" in found[0].reason


@pytest.mark.django_db
def test_suggestions_cost_a_fixed_number_of_queries_whatever_the_number_of_known_errors():
    vpn = make_component("vpn-gw-01", "network-device")
    for n in range(5):
        known_error(f"VPN problem number {n}", component=vpn)
    incident = create_incident(by=None, title="VPN problem", component=vpn)
    suggestions.known_errors_for(incident)  # builds the index
    with CaptureQueriesContext(connection) as few:
        suggestions.known_errors_for(incident)
    for n in range(5, 40):
        known_error(f"VPN problem number {n}", component=vpn)
    suggestions.known_errors_for(incident)
    with CaptureQueriesContext(connection) as many:
        assert len(suggestions.known_errors_for(incident, limit=5)) == 5
    assert len(many) == len(few)


@pytest.mark.django_db
def test_similar_open_incidents_exclude_the_incident_itself_and_resolved_ones():
    vpn = make_component("vpn-gw-01", "network-device")
    first = create_incident(by=None, title="VPN login timeout for remote staff", component=vpn)
    second = create_incident(by=None, title="Timeout at VPN login", component=vpn)
    done = create_incident(by=None, title="VPN login timeout again", component=vpn)
    resolve_incident(done, by=None, resolution="Restarted the gateway.")
    create_incident(by=None, title="Printer jam", component=vpn)
    other_place = create_incident(
        by=None, title="VPN login timeout", component=make_component("vpn-gw-02", "network-device")
    )

    found = suggestions.similar_incidents(first)

    assert [s.record for s in found] == [second, other_place]
    assert "same component vpn-gw-01" in found[0].reason
