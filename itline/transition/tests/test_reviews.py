"""Post-implementation reviews draft themselves from the change window's evidence; the owner
completes them."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import override_settings
from django.utils import timezone

from itline.cmdb.testing import make_component, relate
from itline.core import journal
from itline.core.errors import ConflictError
from itline.core.testing import make_user
from itline.operation.models import Alert, AlertTransition, EventSource, Incident, SlaClock
from itline.operation.testing import make_incident
from itline.transition.choices import ChangeStatus, ReviewStatus
from itline.transition.models import Change, ChangeReview
from itline.transition.services.reviews import complete_review, draft_review
from itline.transition.tasks import after_implementation
from itline.transition.testing import advance, make_change

pytestmark = pytest.mark.django_db


def fire(node, at, *, name="HighLatency", severity="critical", status="firing"):
    """An alert on ``node`` that changed to ``status`` at ``at``."""
    source = EventSource.objects.get_or_create(name="prometheus", kind="alertmanager")[0]
    alert = Alert.objects.create(
        fingerprint=f"{name}-{node.pk}-{Alert.objects.count()}",
        source=source,
        name=name,
        status=status,
        severity=severity,
        component=node,
        starts_at=at,
        first_seen_at=at,
        last_seen_at=at,
        changed_at=at,
    )
    return AlertTransition.objects.create(
        alert=alert,
        status=status,
        severity=severity,
        at=at,
        received_at=at,
        component=node,
        summary=f"{name} on {node.name}",
    )


def implemented(nodes, **fields):
    """A change implemented an hour ago that took 30 minutes (times set after the verbs)."""
    change = make_change(nodes=nodes, status=ChangeStatus.IMPLEMENTED, **fields)
    end = timezone.now() - timedelta(hours=1)
    Change.objects.filter(pk=change.pk).update(
        actual_start=end - timedelta(minutes=30), actual_end=end
    )
    change.refresh_from_db()
    return change


def test_implementing_a_change_drafts_its_review():
    change = make_change(status=ChangeStatus.IMPLEMENTED)
    review = ChangeReview.objects.get(change=change)
    assert review.status == ReviewStatus.DRAFT
    assert review.draft["outcome"] == "successful"
    assert review.summary == review.draft["summary"]
    assert "post-implementation review drafted" in [e.message for e in journal.entries_for(change)]


@override_settings(CHANGE_REVIEW_MARGIN_MINUTES=60)
def test_the_draft_holds_alerts_and_incidents_on_touched_items_and_neighbours_only():
    db = make_component("db-01")
    app = make_component("app-01", "application")
    far = make_component("far-01")
    beyond = make_component("beyond-01")
    relate(app, db)  # the app depends on the database: a neighbour one step up
    relate(beyond, app)  # two steps up: not a neighbour
    change = implemented([db])
    during = change.actual_start + timedelta(minutes=10)
    fire(db, during)
    fire(app, change.actual_end + timedelta(minutes=30), severity="warning")
    fire(far, during)  # unrelated
    fire(beyond, during)  # too far
    fire(db, change.actual_end + timedelta(minutes=90))  # after the margin
    on_app = make_incident("App errors", component=app)
    elsewhere = make_incident("Other", component=far)
    Incident.objects.filter(pk__in=[on_app.pk, elsewhere.pk]).update(created_at=during)
    SlaClock.objects.filter(incident=on_app).delete()
    SlaClock.objects.create(
        incident=on_app,
        kind="resolution",
        target_minutes=15,
        state="running",
        started_at=during,
        computed_at=during,
        due_at=during + timedelta(minutes=15),
        breached_at=during + timedelta(minutes=15),
    )

    review = draft_review(change)

    draft = review.draft
    assert [n["name"] for n in draft["scope"]["touched"]] == ["db-01"]
    assert [n["name"] for n in draft["scope"]["neighbours"]] == ["app-01"]
    assert draft["alerts"]["firing"] == 2
    assert draft["alerts"]["by_severity"] == {"critical": 1, "warning": 1}
    assert [i["reference"] for i in draft["incidents"]] == [on_app.reference]
    assert draft["sla"]["breached_incidents"] == 1
    assert draft["sla"]["breaches"][0]["kind"] == "resolution"
    assert "2 alerts fired (1 critical, 1 warning) on the 2 touched and neighbouring items" in (
        review.summary
    )
    assert f"1 incident opened ({on_app.reference}); 1 breached an SLA" in review.summary


def test_a_quiet_window_says_so():
    change = implemented([make_component("db-01")])
    summary = draft_review(change).summary
    assert "No alert fired" in summary and "No incident was opened" in summary
    assert summary.startswith(f"{change.reference} (Upgrade the database) was implemented from")


def test_the_owner_completes_the_review_and_the_change_can_close():
    owner = make_user("omar", "technician")
    change = make_change(by=owner, owner=owner.person, status=ChangeStatus.IMPLEMENTED)
    review = change.review
    complete_review(review, by=owner, summary="Went fine.", lessons="Pre-warm the cache.")
    review.refresh_from_db()
    assert (review.status, review.completed_by, review.lessons) == (
        ReviewStatus.COMPLETED,
        owner.person,
        "Pre-warm the cache.",
    )
    change = advance(change, ChangeStatus.CLOSED)
    assert change.status == ChangeStatus.CLOSED
    # A completed review is not redrafted.
    assert draft_review(change).summary == "Went fine."


def test_someone_else_may_not_complete_the_review_and_a_summary_is_required():
    change = make_change(status=ChangeStatus.IMPLEMENTED)
    stranger = make_user("tina", "technician")
    with pytest.raises(PermissionDenied):
        complete_review(change.review, by=stranger, summary="x")
    carla = make_user("carla", "change_manager")
    with pytest.raises(ValidationError) as error:
        complete_review(change.review, by=carla, summary="  ")
    assert "summary" in error.value.message_dict
    complete_review(change.review, by=carla, summary="Done")
    with pytest.raises(ConflictError):
        complete_review(change.review, by=carla, summary="Again")


@override_settings(CHANGE_REVIEW_MARGIN_MINUTES=30)
def test_the_periodic_task_refreshes_a_draft_made_before_the_margin_had_passed():
    db = make_component("db-01")
    change = make_change(nodes=[db], status=ChangeStatus.IMPLEMENTED)
    assert change.review.draft["alerts"]["firing"] == 0
    fire(db, timezone.now() + timedelta(minutes=10))
    later = timezone.now() + timedelta(minutes=45)
    assert after_implementation(now=later)["refreshed"] == 1
    change.review.refresh_from_db()
    assert change.review.draft["alerts"]["firing"] == 1
    assert after_implementation(now=later)["refreshed"] == 0
