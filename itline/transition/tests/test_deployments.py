"""Deployments reported by pipelines: which change covers them, standard changes made from a
matching template, unplanned production deployments, re-posts and bad input."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from itline.cmdb.models import ComponentType
from itline.cmdb.testing import make_component, relate
from itline.core import journal
from itline.core.errors import TransitionError
from itline.core.testing import make_user
from itline.operation.testing import make_service
from itline.transition.choices import (
    ChangeOutcome,
    ChangeStatus,
    ChangeType,
    ReleaseStatus,
    ReviewStatus,
)
from itline.transition.models import Change, Deployment
from itline.transition.services.deployments import (
    create_release,
    is_unplanned,
    post_deployment,
    record_deployment,
    update_release,
)
from itline.transition.testing import make_change, make_freeze, make_template, window

pytestmark = pytest.mark.django_db


def pipeline(username: str = "ci", *roles: str) -> object:
    """A pipeline's login: a technician allowed to record deployments."""
    user = make_user(username, *(roles or ("technician",)))
    user.user_permissions.add(
        Permission.objects.get(content_type__app_label="transition", codename="add_deployment")
    )
    return type(user).objects.get(pk=user.pk)


def now_window(minutes: int = 60):
    return window(timedelta(minutes=-1), timedelta(minutes=minutes))


def test_a_deployment_inside_a_scheduled_changes_window_is_linked_to_it():
    ci = pipeline()
    db = make_component("db-01")
    start, end = now_window()
    change = make_change(nodes=[db], start=start, end=end, status=ChangeStatus.SCHEDULED)
    result = post_deployment(
        by=ci, node=db, version="15.4", environment="production", status="succeeded"
    )
    assert (result.created, result.matched) == (True, "change")
    assert result.deployment.change == change
    assert not is_unplanned(result.deployment)
    messages = [e.message for e in journal.entries_for(change)]
    assert f"deployment {result.deployment.reference} of 15.4 to production: succeeded" in messages


def test_a_change_on_a_service_covers_deploying_a_component_it_runs_on():
    ci = pipeline()
    shop = make_service("Webshop")
    app = make_component("shop-app", "application")
    relate(shop, app)
    start, end = now_window()
    change = make_change(nodes=[shop], start=start, end=end, status=ChangeStatus.APPROVED)
    deployment = record_deployment(
        by=ci, node=app, version="2.0", environment="production", status="started"
    )
    assert deployment.change == change


def test_a_change_whose_window_is_elsewhere_does_not_cover_the_deployment():
    ci = pipeline()
    db = make_component("db-01")
    make_change(nodes=[db], status=ChangeStatus.SCHEDULED)  # two days from now
    deployment = record_deployment(
        by=ci, node=db, version="15.4", environment="production", status="succeeded"
    )
    assert deployment.change is None
    assert is_unplanned(deployment)


def test_a_matching_standard_template_creates_and_closes_a_standard_change():
    ci = pipeline()
    app = make_component("shop-app", "application")
    template = make_template(
        "Deploy the shop", nodes=[app], deployment_match={"environments": ["production"]}
    )
    started = timezone.now() - timedelta(minutes=20)
    result = post_deployment(
        by=ci,
        node=app,
        version="2.1",
        environment="production",
        status="succeeded",
        started_at=started,
        pipeline_url="https://ci.example/run/7",
    )
    change = Change.objects.get(pk=result.deployment.change_id)
    assert result.matched == "template"
    assert (change.change_type, change.template, change.status, change.outcome) == (
        ChangeType.STANDARD,
        template,
        ChangeStatus.CLOSED,
        ChangeOutcome.SUCCESSFUL,
    )
    assert change.actual_start == started
    assert change.review.status == ReviewStatus.COMPLETED
    assert "2.1 to production succeeded" in change.review.summary


def test_a_started_deployment_keeps_its_standard_change_open_until_it_fails():
    ci = pipeline()
    server = make_component("web-01")
    make_template(
        "Patch a Linux server",
        component_types=[ComponentType.objects.get(slug="server")],
        deployment_match={"environments": ["production"]},
    )
    first = post_deployment(
        by=ci, node=server, version="k6.1", environment="production", status="started"
    )
    change = Change.objects.get(pk=first.deployment.change_id)
    assert change.status == ChangeStatus.IMPLEMENTING
    again = post_deployment(
        by=ci, node=server, version="k6.1", environment="production", status="rolled_back"
    )
    change.refresh_from_db()
    assert (again.created, again.matched, again.deployment.pk) == (
        False,
        "existing",
        first.deployment.pk,
    )
    assert (change.status, change.outcome) == (ChangeStatus.CLOSED, ChangeOutcome.BACKED_OUT)


def test_a_template_for_other_environments_or_other_nodes_does_not_match():
    ci = pipeline()
    app = make_component("shop-app", "application")
    other = make_component("crm-app", "application")
    make_template("Deploy the shop", nodes=[app], deployment_match={"environments": ["staging"]})
    make_template(
        "Deploy the CRM", nodes=[other], deployment_match={"environments": ["production"]}
    )
    make_template("Never from pipelines", nodes=[app])  # no deployment_match
    deployment = record_deployment(
        by=ci, node=app, version="2.1", environment="production", status="succeeded"
    )
    assert deployment.change is None
    assert Change.objects.count() == 0


def test_a_production_deployment_nothing_covers_is_unplanned_and_a_staging_one_is_not():
    ci = pipeline()
    app = make_component("shop-app", "application")
    prod = post_deployment(
        by=ci, node=app, version="3", environment="Production", status="succeeded"
    )
    staging = post_deployment(
        by=ci, node=app, version="3", environment="staging", status="succeeded"
    )
    assert (prod.matched, staging.matched) == ("unplanned", "none")
    assert prod.deployment.environment == "production"
    assert is_unplanned(prod.deployment) and not is_unplanned(staging.deployment)
    created = journal.entries_for(prod.deployment).first()
    assert created.message == "unplanned: no change covers this production deployment"


def test_a_template_refused_in_a_freeze_window_still_records_the_deployment():
    ci = pipeline()
    app = make_component("shop-app", "application")
    make_template("Deploy the shop", nodes=[app], deployment_match={"environments": ["production"]})
    make_freeze(start=timezone.now() - timedelta(hours=1), end=timezone.now() + timedelta(hours=5))
    result = post_deployment(
        by=ci, node=app, version="2.2", environment="production", status="succeeded"
    )
    assert result.matched == "unplanned"
    assert Change.objects.count() == 0
    message = journal.entries_for(result.deployment).first().message
    assert "standard change from Deploy the shop refused" in message


def test_a_repost_only_moves_the_status_and_the_same_status_changes_nothing():
    ci = pipeline()
    app = make_component("shop-app", "application")
    args = {
        "by": ci,
        "node": app,
        "version": "4",
        "environment": "staging",
        "pipeline_url": "https://ci.example/run/9",
    }
    first = post_deployment(status="started", **args).deployment
    second = post_deployment(status="succeeded", **args)
    third = post_deployment(status="succeeded", **args)
    assert Deployment.objects.count() == 1
    assert (second.created, third.created) == (False, False)
    first.refresh_from_db()
    assert first.status == "succeeded" and first.finished_at is not None
    verbs = [e.verb for e in journal.entries_for(first)]
    assert verbs == ["created", "state_changed"]


def test_started_again_after_a_finish_is_a_new_attempt():
    ci = pipeline()
    app = make_component("shop-app", "application")
    post_deployment(by=ci, node=app, version="4", environment="staging", status="failed")
    retry = post_deployment(by=ci, node=app, version="4", environment="staging", status="started")
    assert retry.created and Deployment.objects.count() == 2


def test_a_rolled_back_deployment_cannot_succeed_afterwards():
    ci = pipeline()
    app = make_component("shop-app", "application")
    post_deployment(by=ci, node=app, version="4", environment="staging", status="rolled_back")
    with pytest.raises(TransitionError, match="final"):
        post_deployment(by=ci, node=app, version="4", environment="staging", status="succeeded")


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"status": "done"}, "status"),
        ({"version": " "}, "version"),
        ({"environment": ""}, "environment"),
        ({"finished_at": timezone.now() - timedelta(days=2)}, "finished_at"),
        ({"started_at": timezone.now() + timedelta(hours=1)}, "started_at"),
        ({"status": "started", "finished_at": timezone.now()}, "finished_at"),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_nothing_is_written(fields, field):
    ci = pipeline()
    app = make_component("shop-app", "application")
    data = {"version": "1", "environment": "production", "status": "succeeded", **fields}
    with pytest.raises(ValidationError) as error:
        record_deployment(by=ci, node=app, **data)
    assert field in error.value.message_dict
    assert Deployment.objects.count() == 0


def test_naming_a_change_that_does_not_touch_the_component_is_refused():
    ci = pipeline()
    app = make_component("shop-app", "application")
    start, end = now_window()
    change = make_change(start=start, end=end, status=ChangeStatus.SCHEDULED)
    with pytest.raises(ValidationError) as error:
        record_deployment(
            by=ci, node=app, version="1", environment="production", status="started", change=change
        )
    assert "does not touch shop-app" in error.value.message_dict["change"][0]


def test_recording_deployments_needs_the_permission():
    tom = make_user("tom", "service_desk_agent")
    with pytest.raises(PermissionDenied):
        record_deployment(
            by=tom,
            node=make_component("shop-app", "application"),
            version="1",
            environment="production",
            status="succeeded",
        )


def test_a_release_groups_changes_and_its_deployments_follow_the_change():
    carla = make_user("carla", "change_manager")
    ci = pipeline()
    app = make_component("shop-app", "application")
    start, end = now_window()
    change = make_change(nodes=[app], start=start, end=end, status=ChangeStatus.SCHEDULED)
    release = create_release(by=carla, name="Shop", version="2026.11", changes=[change])
    change.refresh_from_db()
    assert change.release == release
    deployment = record_deployment(
        by=ci, node=app, version="2026.11", environment="production", status="succeeded"
    )
    assert deployment.release == release
    update_release(release, by=carla, status=ReleaseStatus.RELEASED)
    assert release.released_at is not None
    with pytest.raises(TransitionError):
        update_release(release, by=carla, status=ReleaseStatus.PLANNED)
    update_release(release, by=carla, changes=[])
    change.refresh_from_db()
    assert change.release is None
    assert [e.message for e in journal.entries_for(release)][-1] == f"removed {change.reference}"


def test_a_pipeline_login_that_may_only_record_deployments_still_gets_its_standard_change():
    robot = pipeline("robot", "requester")  # no change permissions at all
    app = make_component("shop-app", "application")
    make_template("Deploy the shop", nodes=[app], deployment_match={"environments": ["production"]})
    result = post_deployment(
        by=robot, node=app, version="5", environment="production", status="succeeded"
    )
    change = Change.objects.get(pk=result.deployment.change_id)
    assert (result.matched, change.status, change.created_by) == (
        "template",
        ChangeStatus.CLOSED,
        None,
    )
    assert journal.entries_for(result.deployment).first().actor == robot
