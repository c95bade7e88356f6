"""Alert verbs and the correlation API: acknowledging and silencing record who and when (and
why) on the alert; bad input is a 4xx naming the field; only agents may act; alert groups
list with filters in a bounded number of queries and show their alerts and decisions."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from itline.cmdb.testing import make_component, relate
from itline.core.errors import ConflictError
from itline.core.testing import bearer, make_user
from itline.operation import maintenance
from itline.operation.correlation import ensure_default_rules
from itline.operation.models import AlertGroup
from itline.operation.services.alerts import (
    acknowledge_alert,
    acknowledge_group,
    silence_alert,
)
from itline.operation.testing import make_service
from itline.operation.tests.correlation_world import at, decision, fire, resolve, run


@pytest.fixture(autouse=True)
def _rules(db):
    ensure_default_rules()
    maintenance.forget()
    yield
    maintenance.forget()


@pytest.fixture
def tech(db):
    return make_user("tina", "technician", name="Tina Tech")


@pytest.fixture
def api(tech):
    return bearer(tech)


@pytest.fixture
def db1(db):
    return make_component("db-1", "database")


@pytest.fixture
def firing(db1):
    return run(fire("DatabaseDown", db1, when=at(0)))


def post(client, url, headers, data=None):
    return client.post(url, data or {}, content_type="application/json", headers=headers)


# --- verbs -------------------------------------------------------------------------------------


def test_acknowledging_records_who_and_when(firing, tech):
    acknowledge_alert(firing, by=tech)

    firing.refresh_from_db()
    assert firing.acknowledged_at is not None
    assert firing.acknowledged_by.name == "Tina Tech"
    assert decision(firing, "acknowledged")["why"] == "Acknowledged by Tina Tech."


def test_acknowledging_twice_keeps_the_first(firing, tech):
    acknowledge_alert(firing, by=tech)
    first = firing.acknowledged_at
    acknowledge_alert(firing, by=make_user("otto", "technician"))
    firing.refresh_from_db()
    assert firing.acknowledged_at == first and firing.acknowledged_by.name == "Tina Tech"


def test_a_resolved_alert_cannot_be_acknowledged(firing, tech):
    run(resolve(firing, when=at(10)))
    with pytest.raises(ConflictError):
        acknowledge_alert(firing, by=tech)


def test_a_requester_may_not_acknowledge_or_silence(firing):
    someone = make_user("rita", "requester")
    with pytest.raises(PermissionDenied):
        acknowledge_alert(firing, by=someone)
    with pytest.raises(PermissionDenied):
        silence_alert(firing, by=someone, until=timezone.now() + timedelta(hours=1), reason="x")


@pytest.mark.parametrize(
    ("until", "reason", "field"),
    [
        (timedelta(hours=1), "  ", "reason"),
        (timedelta(hours=-1), "deploy", "until"),
        (timedelta(days=31), "deploy", "until"),
    ],
)
def test_a_silence_needs_a_reason_and_a_future_end_within_the_limit(
    firing, tech, until, reason, field
):
    with pytest.raises(ValidationError) as caught:
        silence_alert(firing, by=tech, until=timezone.now() + until, reason=reason)
    assert field in caught.value.message_dict
    firing.refresh_from_db()
    assert firing.silenced_until is None


def test_silencing_records_who_until_when_and_why(firing, tech):
    until = timezone.now() + timedelta(hours=4)
    silence_alert(firing, by=tech, until=until, reason="failover drill")

    firing.refresh_from_db()
    assert firing.silenced_until == until and firing.silence_reason == "failover drill"
    assert firing.silenced_by.name == "Tina Tech"
    assert decision(firing, "silenced until")["why"] == "By Tina Tech: failover drill"


def test_acknowledging_a_group_acknowledges_its_firing_alerts(db1, tech):
    app = make_component("app-1", "application")
    relate(app, db1)
    one = run(fire("DatabaseDown", db1, when=at(0)))
    two = run(fire("HighErrorRate", app, when=at(5)))
    group = AlertGroup.objects.get()

    acknowledge_group(group, by=tech)

    one.refresh_from_db()
    two.refresh_from_db()
    assert one.acknowledged_at and two.acknowledged_at
    assert "acknowledged 2 firing alert(s)" in decision(group, "acknowledged")["why"]
    with pytest.raises(ConflictError):
        acknowledge_group(group, by=tech)


# --- API ----------------------------------------------------------------------------------------


def test_the_api_acknowledges_silences_and_unsilences(client, api, firing):
    url = f"/api/v1/alerts/{firing.pk}"
    acked = post(client, f"{url}/acknowledge", api)
    assert acked.status_code == 200, acked.content
    assert acked.json()["acknowledged_by"] is not None

    until = (timezone.now() + timedelta(hours=2)).isoformat()
    silenced = post(client, f"{url}/silence", api, {"until": until, "reason": "deploy"})
    assert silenced.status_code == 200, silenced.content
    body = silenced.json()
    assert body["silence_reason"] == "deploy" and body["silenced_until"]
    assert [d["what"] for d in body["decisions"]][-1].startswith("silenced until")

    lifted = post(client, f"{url}/unsilence", api)
    assert lifted.status_code == 200 and lifted.json()["silenced_until"] is None
    again = post(client, f"{url}/unsilence", api)
    assert again.status_code == 409


def test_the_api_names_the_field_of_a_bad_silence(client, api, firing):
    url = f"/api/v1/alerts/{firing.pk}/silence"
    past = post(client, url, api, {"until": "2000-01-01T00:00:00Z", "reason": "x"})
    assert past.status_code == 422
    assert past.json()["errors"][0]["field"] == "until"
    missing = post(client, url, api, {"until": "not a date"})
    assert missing.status_code == 422
    assert {e["field"] for e in missing.json()["errors"]} == {"until", "reason"}
    assert post(client, "/api/v1/alerts/999999/acknowledge", api).status_code == 404


def test_requesters_get_403_from_the_alert_api(client, firing):
    requester = bearer(make_user("rita", "requester"))
    assert post(client, f"/api/v1/alerts/{firing.pk}/acknowledge", requester).status_code == 403
    assert client.get("/api/v1/alert-groups", headers=requester).status_code == 403
    assert client.get("/api/v1/alert-groups").status_code == 401


def test_alert_groups_list_with_filters_in_constant_queries(client, api, db):
    for k in range(6):
        node = make_component(f"srv-{k}")
        run(fire("Down", node, when=at(1000 * k), severity="critical" if k % 2 else "warning"))
    run(fire("Mystery", None, when=at(9000), severity="warning"))

    def page(query):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(f"/api/v1/alert-groups?{query}", headers=api)
        assert response.status_code == 200, response.content
        return response.json(), len(queries)

    page("limit=1")  # the token's first use of the minute writes last_used_at
    small, few = page("limit=2")
    large, many = page("limit=7")
    assert len(small["items"]) == 2 and small["next_cursor"]
    assert len(large["items"]) == 7 and large["next_cursor"] is None
    assert few == many, "no query per group"
    rest, _ = page(f"limit=5&cursor={small['next_cursor']}")
    refs = [g["reference"] for g in small["items"] + rest["items"]]
    assert refs == [g["reference"] for g in large["items"]], "newest activity first, no gaps"

    critical, _ = page("severity=critical")
    assert len(critical["items"]) == 3
    assert all(g["severity"] == "critical" and g["incident"] for g in critical["items"])
    mystery, _ = page("q=myst&status=open")
    assert [g["probable_cause"] for g in mystery["items"]] == [None]
    bad = client.get("/api/v1/alert-groups?sort=nonsense", headers=api)
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "sort"


def test_one_group_shows_its_alerts_and_decisions(client, api, db1):
    svc = make_service("Orders")
    alert = run(fire("DatabaseDown", db1, service=svc, when=at(0)))
    group = AlertGroup.objects.get()

    body = client.get(f"/api/v1/alert-groups/{group.reference}", headers=api).json()

    assert body["probable_cause"] == db1.reference and body["probable_cause_name"] == "db-1"
    assert body["service"] == svc.reference and body["incident_status"] == "new"
    assert [a["id"] for a in body["alerts"]] == [alert.pk]
    assert body["decisions"][0]["what"] == "opened"
    assert body["alerts"][0]["decisions"][0]["what"] == f"opened group {group.reference}"
    assert client.get("/api/v1/alert-groups/ALG-999999", headers=api).status_code == 404

    acked = post(client, f"/api/v1/alert-groups/{group.reference}/acknowledge", api)
    assert acked.status_code == 200 and acked.json()["alerts"][0]["acknowledged_at"]
