"""Problem management pages: lists with filters and a query count independent of the page
size, records with linked incidents and timeline, forms, transition buttons matching the
table, recurrence proposals decided on the page, and the known-error suggestions partial."""

import re

import pytest
from django.db import connection
from django.template import Context, Template
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext

from itline.cmdb.testing import make_component
from itline.core.testing import PASSWORD, make_user
from itline.operation import suggestions
from itline.operation.models import Incident, KnownError, Problem, RecurrenceProposal
from itline.operation.recurrence import Thresholds, detect_recurring_incidents
from itline.operation.services import create_incident, create_known_error, create_problem


def _text(html):
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


@pytest.fixture(autouse=True)
def _fresh_index():
    suggestions.forget()
    yield
    suggestions.forget()


@pytest.fixture
def pm_client(client, db):
    make_user("pm", "problem_manager")
    client.login(username="pm", password=PASSWORD)
    return client


@pytest.fixture
def vpn(db):
    return make_component("vpn-gw-01", "network-device")


def test_the_problem_list_filters_and_its_query_count_does_not_grow_with_rows(pm_client, vpn):
    for n in range(3):
        create_problem(by=None, title=f"VPN fault {n}", component=vpn)
    create_problem(by=None, title="Printer fault", priority=1)
    page = pm_client.get("/problems/?priority=1")
    assert page.status_code == 200
    text = _text(page.content.decode())
    assert "Printer fault" in text and "VPN fault 0" not in text
    with CaptureQueriesContext(connection) as few:
        pm_client.get("/problems/")
    for n in range(3, 15):
        problem = create_problem(by=None, title=f"VPN fault {n}", component=vpn)
        inc = create_incident(by=None, title=f"VPN incident {n}", component=vpn)
        Incident.objects.filter(pk=inc.pk).update(problem=problem)
    with CaptureQueriesContext(connection) as many:
        assert pm_client.get("/problems/").status_code == 200
    assert len(many) == len(few)
    assert pm_client.get("/problems/?status=bogus").status_code == 200  # ignored, said so


def test_a_problem_page_shows_incidents_timeline_and_only_allowed_transitions(pm_client, vpn):
    inc = create_incident(by=None, title="VPN login timeout", component=vpn)
    problem = create_problem(by=None, title="VPN timeouts", component=vpn, incidents=[inc])
    page = pm_client.get(problem.get_absolute_url())
    html = page.content.decode()
    assert inc.reference in html and "History" in html
    buttons = re.findall(r'name="status" value="([a-z_]+)"', html)
    assert buttons == ["investigating", "known_error", "closed"]
    # "known error" needs a workaround: the button opens a text box for it
    assert 'name="workaround"' in html

    moved = pm_client.post(
        f"/problems/{problem.reference}/transition/", {"status": "investigating"}
    )
    assert moved.status_code == 302
    known = pm_client.post(
        f"/problems/{problem.reference}/transition/",
        {"status": "known_error", "workaround": "Use the backup gateway."},
    )
    assert known.status_code == 302
    problem.refresh_from_db()
    assert problem.status == "known_error" and problem.workaround == "Use the backup gateway."
    refused = pm_client.post(
        f"/problems/{problem.reference}/transition/", {"status": "new"}, follow=True
    )
    assert "cannot move to New" in refused.content.decode()
    problem.refresh_from_db()
    assert problem.status == "known_error"


def test_resolving_without_a_fix_is_refused_and_nothing_is_half_written(pm_client):
    problem = create_problem(by=None, title="Slow payroll")
    pm_client.post(f"/problems/{problem.reference}/transition/", {"status": "investigating"})
    page = pm_client.post(
        f"/problems/{problem.reference}/transition/", {"status": "resolved"}, follow=True
    )
    assert "Describe the permanent fix" in page.content.decode()
    problem.refresh_from_db()
    assert problem.status == "investigating"


def test_problems_are_created_and_edited_through_forms_with_errors_next_to_fields(pm_client, vpn):
    inc = create_incident(by=None, title="VPN down", component=vpn)
    bad = pm_client.post(
        "/problems/new/", {"title": "", "priority": "3", "incidents": "INC-999999"}
    )
    assert bad.status_code == 422
    assert "There is no incident INC-999999" in bad.content.decode()
    made = pm_client.post(
        "/problems/new/",
        {
            "title": "VPN drops",
            "priority": "2",
            "component": vpn.reference,
            "incidents": inc.reference,
        },
    )
    assert made.status_code == 302
    problem = Problem.objects.get()
    assert problem.component == vpn and list(problem.incidents.all()) == [inc]
    form = pm_client.get(f"/problems/{problem.reference}/edit/").content.decode()
    assert 'value="VPN drops"' in form
    edited = pm_client.post(
        f"/problems/{problem.reference}/edit/",
        {"title": "VPN drops logins", "priority": "2", "root_cause": "Firmware bug"},
    )
    assert edited.status_code == 302
    problem.refresh_from_db()
    assert problem.root_cause == "Firmware bug" and problem.component is None


def test_linking_an_incident_on_the_page_and_recording_the_known_error(pm_client, vpn):
    problem = create_problem(by=None, title="VPN", component=vpn)
    inc = create_incident(by=None, title="VPN down", component=vpn)
    missing = pm_client.post(f"/problems/{problem.reference}/incidents/", {"incident": "INC-9"})
    assert missing.status_code == 422
    linked = pm_client.post(
        f"/problems/{problem.reference}/incidents/", {"incident": inc.reference}
    )
    assert linked.status_code == 302
    assert Incident.objects.get(pk=inc.pk).problem == problem
    problem.workaround = "Use vpn2"
    problem.save()
    recorded = pm_client.post(f"/problems/{problem.reference}/known-error/")
    known = KnownError.objects.get()
    assert recorded.status_code == 302 and recorded["Location"] == known.get_absolute_url()
    page = pm_client.get(known.get_absolute_url()).content.decode()
    assert "Use vpn2" in page and problem.reference in page


def test_known_errors_list_retire_and_apply_to_an_incident(pm_client, vpn):
    known = create_known_error(by=None, title="VPN timeout", workaround="Use vpn2", component=vpn)
    create_known_error(by=None, title="Printer", workaround="Kick it")
    listed = _text(pm_client.get("/known-errors/?q=vpn").content.decode())
    assert "VPN timeout" in listed and "Printer" not in listed
    inc = create_incident(by=None, title="VPN timeout", component=vpn)
    applied = pm_client.post(
        f"/known-errors/{known.reference}/apply/",
        {"record": inc.reference, "next": "/problems/"},
    )
    assert applied.status_code == 302 and applied["Location"] == "/problems/"
    inc.refresh_from_db()
    assert inc.known_error == known and "Use vpn2" in inc.workaround
    offsite = pm_client.post(
        f"/known-errors/{known.reference}/apply/",
        {"record": "nonsense", "next": "https://evil.example/"},
        follow=False,
    )
    assert offsite.status_code == 302 and "evil" not in offsite["Location"]
    pm_client.post(f"/known-errors/{known.reference}/active/", {"active": "false"})
    known.refresh_from_db()
    assert known.active is False
    assert "Retired" in pm_client.get("/known-errors/?state=retired").content.decode()


def test_a_recurrence_proposal_is_accepted_on_its_page(pm_client, vpn):
    for n in range(3):
        create_incident(by=None, title=f"VPN login timeout {n}", component=vpn)
    scanned = pm_client.post("/recurrence-proposals/scan/", follow=True)
    assert "1 new proposal" in scanned.content.decode()
    proposal = RecurrenceProposal.objects.get()
    page = pm_client.get(proposal.get_absolute_url()).content.decode()
    assert "Why these incidents were grouped" in page and "Raise problem" in page
    empty_title = pm_client.post(f"/recurrence-proposals/{proposal.pk}/accept/", {"title": ""})
    assert empty_title.status_code == 422
    accepted = pm_client.post(
        f"/recurrence-proposals/{proposal.pk}/accept/", {"title": "VPN gateway bug"}
    )
    problem = Problem.objects.get()
    assert accepted.status_code == 302 and accepted["Location"] == problem.get_absolute_url()
    assert problem.incidents.count() == 3
    after = pm_client.get(proposal.get_absolute_url()).content.decode()
    assert "Raise problem" not in after and problem.reference in after


def test_a_dismissal_needs_a_reason_on_the_page(pm_client, vpn):
    for n in range(3):
        create_incident(by=None, title=f"VPN login timeout {n}", component=vpn)
    proposal = detect_recurring_incidents(thresholds=Thresholds(3, 14, 0.3)).created[0]
    blank = pm_client.post(f"/recurrence-proposals/{proposal.pk}/dismiss/", {"reason": ""})
    assert blank.status_code == 422 and "This field is required" in blank.content.decode()
    done = pm_client.post(f"/recurrence-proposals/{proposal.pk}/dismiss/", {"reason": "Noise"})
    assert done.status_code == 302
    assert "Dismissed" in pm_client.get("/recurrence-proposals/?status=dismissed").content.decode()


def test_agents_without_the_permission_cannot_decide_or_scan(client, vpn):
    make_user("desk", "service_desk_agent")
    client.login(username="desk", password=PASSWORD)
    assert client.get("/problems/").status_code == 200
    assert client.get("/problems/new/").status_code == 403
    assert client.post("/recurrence-proposals/scan/").status_code == 403
    make_user("rita", "requester")
    client.login(username="rita", password=PASSWORD)
    assert client.get("/problems/").status_code == 403


def test_the_suggestions_partial_offers_the_known_error_with_an_apply_button(pm_client, vpn):
    known = create_known_error(
        by=None, title="VPN login timeout", workaround="Use vpn2", component=vpn
    )
    inc = create_incident(by=None, title="VPN login timeout", component=vpn)
    twin = create_incident(by=None, title="VPN login timeout for all", component=vpn)
    request = RequestFactory().get("/incidents/x/")
    request.user = make_user("agent", "technician")
    html = Template('{% include "operation/suggestions/_known_errors.html" %}').render(
        Context({"incident": inc, "request": request})
    )
    assert known.reference in html and "same component vpn-gw-01" in html
    assert f'action="/known-errors/{known.reference}/apply/"' in html
    assert f'value="{inc.reference}"' in html
    assert twin.reference in html  # similar open incident
    fragment = pm_client.get(
        "/known-error-suggestions/", {"title": "vpn login timeout", "component": vpn.reference}
    )
    assert fragment.status_code == 200 and known.reference in fragment.content.decode()
    assert "apply/" not in fragment.content.decode()  # nothing to apply to yet


def test_applying_a_known_error_to_a_request_answers_it_with_the_workaround(pm_client, vpn):
    from itline.operation.services import create_request
    from itline.org.models import person_of

    known = create_known_error(by=None, title="VPN timeout", workaround="Use vpn2")
    rita = make_user("rita", "requester")
    req = create_request(by=rita, requester=person_of(rita), title="VPN times out")
    done = pm_client.post(f"/known-errors/{known.reference}/apply/", {"record": req.reference})
    assert done.status_code == 302
    req.refresh_from_db()
    assert req.known_error == known and req.status == "resolved" and "Use vpn2" in req.answer
    again = pm_client.post(
        f"/known-errors/{known.reference}/apply/", {"record": req.reference}, follow=True
    )
    assert again.status_code == 200 and "is Resolved" in again.content.decode()


def test_the_global_search_finds_problems_and_known_errors(pm_client):
    problem = create_problem(by=None, title="Payroll export hangs")
    known = create_known_error(by=None, title="Payroll export hangs", workaround="Run it twice")
    found = pm_client.get("/search/?q=payroll export").content.decode()
    assert problem.reference in found and known.reference in found
    exact = pm_client.get(f"/search/?q={problem.reference}")
    assert exact.status_code == 302 and exact["Location"] == problem.get_absolute_url()


def test_known_error_and_proposal_pages_cost_the_same_queries_for_more_rows(pm_client):
    def add(n):
        comp = make_component(f"gw-{n}", "network-device")
        for k in range(2):
            create_incident(by=None, title=f"Gateway {n} drops sessions {k}", component=comp)
        create_known_error(by=None, title=f"KE {n}", workaround="w", component=comp)
        detect_recurring_incidents(thresholds=Thresholds(2, 14, 0.3))

    def counts():
        out = []
        for url in ("/known-errors/", "/recurrence-proposals/"):
            with CaptureQueriesContext(connection) as queries:
                assert pm_client.get(url).status_code == 200
            out.append(len(queries))
        return out

    add(0)
    few = counts()
    for n in range(1, 6):
        add(n)
    assert counts() == few
