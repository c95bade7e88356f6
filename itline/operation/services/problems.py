"""Problem and known error verbs: raise a problem (also from an incident), investigate,
record the known error with its workaround, resolve and close."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from itline.cmdb.models import Component, Service
from itline.core import journal
from itline.core.models import JournalEntry
from itline.core.services import create_record, require
from itline.operation import events
from itline.operation.choices import PROBLEM_TRANSITIONS, ProblemStatus
from itline.operation.models import Incident, KnownError, Problem
from itline.operation.services.common import actor, guard
from itline.org.models import Function, Person

EDITABLE = {
    "title",
    "description",
    "priority",
    "service",
    "component",
    "owner",
    "owner_function",
    "symptoms",
    "root_cause",
    "analysis",
    "workaround",
    "resolution",
}


def create_problem(
    *,
    by: Any,
    title: str,
    description: str = "",
    service: Service | None = None,
    component: Component | None = None,
    owner: Person | None = None,
    owner_function: Function | None = None,
    priority: int = 3,
    symptoms: str = "",
    incidents: Iterable[Incident] = (),
) -> Problem:
    require(by, "operation.add_problem")
    with transaction.atomic():
        if owner_function is None:
            for node in (component, service):
                if node is not None and node.owner_function_id:
                    owner_function = node.owner_function
                    break
        problem = Problem(
            title=(title or "").strip(),
            description=description,
            service=service,
            component=component,
            owner=owner,
            owner_function=owner_function,
            priority=priority,
            symptoms=symptoms,
        )
        create_record(problem, by=by)
        for incident in incidents:
            link_incident_to_problem(incident, problem, by=by)
        events.publish(problem, "problem.created", by=by)
    return problem


def raise_problem_from_incident(
    incident: Incident, *, by: Any, title: str | None = None
) -> Problem:
    if incident.problem_id:
        raise ValidationError({"problem": f"{incident.reference} is already linked to a problem."})
    return create_problem(
        by=by,
        title=title or incident.title,
        description=f"Raised from {incident.reference}.\n\n{incident.description}".strip(),
        service=incident.service,
        component=incident.component,
        priority=incident.priority,
        symptoms=incident.description,
        incidents=[incident],
    )


def update_problem(problem: Problem, *, by: Any, **fields: Any) -> Problem:
    require(by, "operation.change_problem")
    unknown = sorted(set(fields) - EDITABLE)
    if unknown:
        raise ValidationError({unknown[0]: "This field cannot be edited here."})
    with transaction.atomic():
        before = journal.snapshot(problem)
        for name, value in fields.items():
            setattr(problem, name, value)
        problem.full_clean()
        changes = journal.diff(before, journal.snapshot(problem))
        if changes:
            problem.updated_by = actor(by)
            problem.save()
            journal.record(problem, by=by, verb=JournalEntry.Verb.UPDATED, changes=changes)
            events.publish(problem, "problem.updated", by=by, changes=changes)
    return problem


def transition_problem(problem: Problem, *, by: Any, status: str) -> Problem:
    require(by, "operation.change_problem")
    if status not in ProblemStatus.values:
        raise ValidationError({"status": f"Unknown status {status!r}."})
    with transaction.atomic():
        guard(problem, status, PROBLEM_TRANSITIONS, ProblemStatus)
        if status == ProblemStatus.KNOWN_ERROR and not (problem.workaround or problem.root_cause):
            raise ValidationError(
                {
                    "workaround": "Record the root cause or a workaround before calling it a known error."
                }
            )
        if status == ProblemStatus.RESOLVED and not problem.resolution.strip():
            raise ValidationError({"resolution": "Describe the permanent fix."})
        before = journal.snapshot(problem)
        problem.status = status
        now = timezone.now()
        if status == ProblemStatus.RESOLVED:
            problem.resolved_at = now
        elif status == ProblemStatus.CLOSED:
            problem.closed_at = now
        elif status == ProblemStatus.INVESTIGATING:
            problem.resolved_at = None
        problem.updated_by = actor(by)
        problem.full_clean()
        problem.save()
        changes = journal.diff(before, journal.snapshot(problem))
        journal.record(problem, by=by, verb=JournalEntry.Verb.STATE_CHANGED, changes=changes)
        events.publish(problem, "problem.updated", by=by, changes=changes)
    return problem


def link_incident_to_problem(incident: Incident, problem: Problem, *, by: Any) -> Incident:
    require(by, "operation.change_incident")
    from itline.operation.services.common import lock, save_with_journal

    with transaction.atomic():
        current = lock(incident)
        before = journal.snapshot(current)
        current.problem = problem
        save_with_journal(current, before, by=by)
        journal.record(
            problem, by=by, verb=JournalEntry.Verb.UPDATED, message=f"linked {current.reference}"
        )
    incident.problem = problem
    incident.version = current.version
    return incident


def create_known_error(
    *,
    by: Any,
    title: str,
    workaround: str,
    symptoms: str = "",
    root_cause: str = "",
    problem: Problem | None = None,
    service: Service | None = None,
    component: Component | None = None,
) -> KnownError:
    require(by, "operation.add_knownerror")
    with transaction.atomic():
        known = KnownError(
            title=(title or "").strip(),
            workaround=(workaround or "").strip(),
            symptoms=symptoms,
            root_cause=root_cause,
            problem=problem,
            service=service,
            component=component,
        )
        create_record(known, by=by)
        events.publish(known, "known_error.created", by=by)
    return known


def update_known_error(known: KnownError, *, by: Any, **fields: Any) -> KnownError:
    require(by, "operation.change_knownerror")
    from itline.core.services import update_record

    return update_record(known, by=by, **fields)


def record_known_error(problem: Problem, *, by: Any) -> KnownError:
    """Publish the problem's workaround as a known error and move the problem on."""
    require(by, "operation.change_problem")
    if not problem.workaround.strip():
        raise ValidationError({"workaround": "Write the workaround first."})
    with transaction.atomic():
        known = create_known_error(
            by=by,
            title=problem.title,
            workaround=problem.workaround,
            symptoms=problem.symptoms or problem.description,
            root_cause=problem.root_cause,
            problem=problem,
            service=problem.service,
            component=problem.component,
        )
        if ProblemStatus.KNOWN_ERROR in PROBLEM_TRANSITIONS.get(problem.status, frozenset()):
            transition_problem(problem, by=by, status=ProblemStatus.KNOWN_ERROR)
    return known
