"""Recurring-incident detection: when several incidents in a short window hang on the same
component or service and describe the same fault, they probably share a cause that nobody is
looking for. A periodic task proposes a problem for each such group, with the incidents and
the reasons they were grouped; a problem manager accepts the proposal (a problem is raised
and the incidents linked) or dismisses it with a reason.

How groups are found. The incidents created in the last ``RECURRENCE_WINDOW_DAYS`` that are
not duplicates and not yet linked to a problem are vectorised once (TF-IDF, see
``itline.operation.suggestions.Corpus``). Per component, then per service, the incidents are
linked when their texts are at least ``RECURRENCE_SIMILARITY_PERCENT`` similar, and each
connected group of at least ``RECURRENCE_MIN_INCIDENTS`` becomes a candidate. Component groups
come first: an incident grouped on its component is not grouped again on its service, so one
fault gives one proposal, on the most precise place.

Not proposing the same thing twice. A group is identified by a signature, the SHA-256 of its
scope and its sorted incident ids (unique in the database, so two scans at once cannot both
insert it). Beyond the exact signature:
- a group overlapping an open proposal on the same scope extends that proposal;
- a group overlapping a dismissed (or accepted) proposal on the same scope is proposed again
  only when at least ``RECURRENCE_MIN_INCIDENTS`` incidents are new since that decision: the
  manager said "not a problem" about those incidents, and only a fresh run of them reopens
  the question.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np
from crontask import cron
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import IntegrityError, transaction
from django.db.models.functions import Substr
from django.tasks import task
from django.utils import timezone
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from itline.core import journal
from itline.core.errors import TransitionError
from itline.core.models import JournalEntry
from itline.core.services import require
from itline.operation.choices import ProposalStatus
from itline.operation.models import Incident, Problem, RecurrenceProposal
from itline.operation.suggestions import Corpus

# At most this many incidents of one window are scanned (the most recent); a window that
# holds more is a flood, not recurrence, and the cap keeps the task's memory bounded.
MAX_SCANNED = 50_000
# The start of a description says what is wrong; long mail threads only add noise and time.
DESCRIPTION_CHARS = 1000
# Groups larger than this on one node are compared in their most recent part only.
MAX_GROUP = 2_000
PROPOSAL_TRANSITIONS: dict[str, list[str]] = {
    ProposalStatus.PROPOSED: [ProposalStatus.ACCEPTED, ProposalStatus.DISMISSED],
    ProposalStatus.ACCEPTED: [],
    ProposalStatus.DISMISSED: [],
}


@dataclass(frozen=True)
class Thresholds:
    min_incidents: int
    window_days: int
    similarity: float  # 0..1

    @classmethod
    def from_settings(cls) -> Thresholds:
        return cls(
            min_incidents=int(getattr(settings, "RECURRENCE_MIN_INCIDENTS", 3)),
            window_days=int(getattr(settings, "RECURRENCE_WINDOW_DAYS", 14)),
            similarity=int(getattr(settings, "RECURRENCE_SIMILARITY_PERCENT", 35)) / 100,
        )


@dataclass
class Group:
    """A candidate: incidents on one node whose texts link up, with the evidence."""

    kind: str  # "component" or "service"
    node_id: int
    incident_ids: list[int]
    terms: list[str]
    # incident id -> (nearest other incident id, similarity)
    nearest: dict[int, tuple[int, float]]

    @property
    def signature(self) -> str:
        return signature(self.kind, self.node_id, self.incident_ids)


@dataclass
class DetectionResult:
    created: list[RecurrenceProposal] = field(default_factory=list)
    extended: list[RecurrenceProposal] = field(default_factory=list)
    # signature -> why it was not proposed
    skipped: dict[str, str] = field(default_factory=dict)
    scanned: int = 0


def signature(kind: str, node_id: int, incident_ids: Iterable[int]) -> str:
    ids = ",".join(str(i) for i in sorted(set(incident_ids)))
    return hashlib.sha256(f"{kind}:{node_id}:{ids}".encode()).hexdigest()


# --- finding groups -----------------------------------------------------------------------


def _candidates(since: Any) -> list[tuple[Any, ...]]:
    rows = list(
        Incident.objects.filter(
            created_at__gte=since, merged_into__isnull=True, problem__isnull=True
        )
        .annotate(head=Substr("description", 1, DESCRIPTION_CHARS))
        .order_by("-id")
        .values_list("id", "component_id", "service_id", "title", "head")[:MAX_SCANNED]
    )
    rows.reverse()
    return rows


def _cluster(
    corpus: Corpus, rows: list[int], threshold: float, min_size: int
) -> list[tuple[list[int], dict[int, tuple[int, float]]]]:
    """Connected groups (of row numbers) whose members are each ``threshold``-similar to at
    least one other member, with each member's nearest neighbour."""
    if len(rows) < min_size:
        return []
    rows = rows[-MAX_GROUP:]
    sub = corpus.matrix[rows]
    sim = (sub @ sub.T).toarray()
    np.fill_diagonal(sim, 0.0)
    adjacency = sparse.csr_matrix(sim >= threshold)
    n, labels = connected_components(adjacency, directed=False)
    out = []
    for label in range(n):
        members = np.flatnonzero(labels == label)
        if len(members) < min_size:
            continue
        nearest: dict[int, tuple[int, float]] = {}
        for m in members.tolist():
            others = sim[m, members]
            best = int(members[int(np.argmax(others))])
            nearest[rows[m]] = (rows[best], float(sim[m, best]))
        out.append(([rows[m] for m in members.tolist()], nearest))
    return out


def _shared_terms(corpus: Corpus, rows: list[int], limit: int = 6) -> list[str]:
    """Words present in at least half the group (and two incidents), by weight."""
    sub = corpus.matrix[rows]
    presence = np.asarray((sub > 0).sum(axis=0)).ravel()
    weight = np.asarray(sub.sum(axis=0)).ravel()
    needed = max(2, math.ceil(len(rows) / 2))
    weight[presence < needed] = 0
    return corpus.top_terms(sparse.csr_matrix(weight), limit)


def find_groups(thresholds: Thresholds, now: Any = None) -> tuple[list[Group], int]:
    """The candidate groups of the current window (no writes), and how many were scanned."""
    now = now or timezone.now()
    rows = _candidates(now - timedelta(days=thresholds.window_days))
    if len(rows) < thresholds.min_incidents:
        return [], len(rows)
    corpus = Corpus.build([f"{r[3]}\n{r[4] or ''}" for r in rows])
    ids = [r[0] for r in rows]
    groups: list[Group] = []
    claimed: set[int] = set()
    for kind, column in (("component", 1), ("service", 2)):
        by_node: dict[int, list[int]] = defaultdict(list)
        for k, row in enumerate(rows):
            if row[column] and ids[k] not in claimed:
                by_node[row[column]].append(k)
        for node_id, members in sorted(by_node.items()):
            for cluster, nearest in _cluster(
                corpus, members, thresholds.similarity, thresholds.min_incidents
            ):
                group = Group(
                    kind=kind,
                    node_id=node_id,
                    incident_ids=[ids[k] for k in cluster],
                    terms=_shared_terms(corpus, cluster),
                    nearest={ids[a]: (ids[b], s) for a, (b, s) in nearest.items()},
                )
                groups.append(group)
        if kind == "component":
            # One fault, one proposal: incidents grouped on their component are not grouped
            # again on their service.
            claimed = {i for g in groups for i in g.incident_ids}
    return groups, len(rows)


# --- writing proposals --------------------------------------------------------------------


def _describe(group: Group, thresholds: Thresholds, note: str = "") -> tuple[str, str]:
    """Title and reason of a proposal for ``group``: the incidents and why they belong."""
    from itline.cmdb.models import Node

    node = Node.objects.only("reference", "name").get(pk=group.node_id)
    incidents = {
        i.pk: i
        for i in Incident.objects.filter(pk__in=group.incident_ids).only(
            "reference", "title", "created_at"
        )
    }
    ordered = sorted(incidents.values(), key=lambda i: (i.created_at, i.pk))
    n = len(ordered)
    words = ", ".join(group.terms) if group.terms else "similar wording"
    title = f"{n} similar incidents on {node.name}: {words}"[:200]
    first, last = ordered[0].created_at, ordered[-1].created_at
    lines = [
        f"{n} incidents on {group.kind} {node.name} ({node.reference}) between "
        f"{timezone.localtime(first):%Y-%m-%d} and {timezone.localtime(last):%Y-%m-%d} "
        f"share the words: {words}.",
        f"Each is at least {round(thresholds.similarity * 100)} % similar in text to another one "
        f"of the group (thresholds: {thresholds.min_incidents} incidents within "
        f"{thresholds.window_days} days).",
    ]
    if note:
        lines.append(note)
    lines.append("")
    for inc in ordered:
        other, score = group.nearest.get(inc.pk, (None, 0.0))
        like = incidents[other].reference if other in incidents else "—"
        lines.append(f"- {inc.reference} {inc.title} ({round(score * 100)} % like {like})")
    return title, "\n".join(lines)


def _touching(incident_ids: set[int]) -> list[RecurrenceProposal]:
    """The proposals that hold any of these incidents, each with all its incident ids in
    ``_incident_ids`` (two queries, whatever the number of proposals)."""
    through = RecurrenceProposal.incidents.through
    links: dict[int, set[int]] = defaultdict(set)
    for proposal_id, incident_id in through.objects.filter(
        incident_id__in=incident_ids
    ).values_list("recurrenceproposal_id", "incident_id"):
        links[proposal_id].add(incident_id)
    touching = list(RecurrenceProposal.objects.filter(pk__in=links))
    all_links: dict[int, set[int]] = defaultdict(set)
    for proposal_id, incident_id in through.objects.filter(
        recurrenceproposal_id__in=links
    ).values_list("recurrenceproposal_id", "incident_id"):
        all_links[proposal_id].add(incident_id)
    for proposal in touching:
        proposal._incident_ids = all_links[proposal.pk]  # type: ignore[attr-defined]
    return touching


def _scope(proposal: RecurrenceProposal) -> tuple[str, int]:
    if proposal.component_id:
        return ("component", proposal.component_id)
    return ("service", proposal.service_id or 0)


def detect_recurring_incidents(
    *, by: Any = None, thresholds: Thresholds | None = None, now: Any = None
) -> DetectionResult:
    """Scan the window and write proposals; safe to run again at any time."""
    if by is not None:
        require(by, "operation.change_recurrenceproposal")
    thresholds = thresholds or Thresholds.from_settings()
    groups, scanned = find_groups(thresholds, now)
    result = DetectionResult(scanned=scanned)
    if not groups:
        return result
    touching = _touching({i for g in groups for i in g.incident_ids})
    by_scope: dict[tuple[str, int], list[RecurrenceProposal]] = defaultdict(list)
    for proposal in touching:
        by_scope[_scope(proposal)].append(proposal)
    known_signatures = set(
        RecurrenceProposal.objects.filter(signature__in=[g.signature for g in groups]).values_list(
            "signature", flat=True
        )
    )
    for group in groups:
        sig = group.signature
        members = set(group.incident_ids)
        if sig in known_signatures:
            result.skipped[sig] = "already proposed"
            continue
        related = [
            p
            for p in by_scope[(group.kind, group.node_id)]
            if p._incident_ids & members  # type: ignore[attr-defined]
        ]
        open_ = [p for p in related if p.status == ProposalStatus.PROPOSED]
        decided = [p for p in related if p.status != ProposalStatus.PROPOSED]
        seen = set().union(*(p._incident_ids for p in decided)) if decided else set()  # type: ignore[attr-defined]
        new = members - seen
        note = ""
        if decided:
            if len(new) < thresholds.min_incidents:
                result.skipped[sig] = (
                    f"overlaps decided proposal(s) {', '.join(str(p.pk) for p in decided)} "
                    f"with only {len(new)} new incident(s)"
                )
                continue
            labels = ", ".join(
                f"#{p.pk} ({p.get_status_display().lower()} "
                f"{timezone.localtime(p.decided_at or p.updated_at):%Y-%m-%d})"
                for p in decided
            )
            note = f"{len(new)} of them are new since proposal {labels}."
        if open_:
            proposal = open_[0]
            if members <= proposal._incident_ids:  # type: ignore[attr-defined]
                result.skipped[sig] = f"already in open proposal {proposal.pk}"
                continue
            _extend(proposal, group, thresholds, note)
            result.extended.append(proposal)
            continue
        created = _create(group, thresholds, note)
        if created is None:
            result.skipped[sig] = "proposed by a concurrent scan"
        else:
            result.created.append(created)
    return result


def _create(group: Group, thresholds: Thresholds, note: str) -> RecurrenceProposal | None:
    title, reason = _describe(group, thresholds, note)
    node_field = "component_id" if group.kind == "component" else "service_id"
    try:
        with transaction.atomic():
            proposal = RecurrenceProposal(
                title=title,
                reason=reason,
                terms=group.terms,
                signature=group.signature,
                **{node_field: group.node_id},
            )
            if group.kind == "component":
                # The service too when all incidents agree on it: the problem gets both.
                services = set(
                    Incident.objects.filter(pk__in=group.incident_ids).values_list(
                        "service_id", flat=True
                    )
                )
                if len(services) == 1 and None not in services:
                    proposal.service_id = services.pop()
            proposal.save()
            proposal.incidents.set(group.incident_ids)
            journal.record(
                proposal,
                by=None,
                verb=JournalEntry.Verb.CREATED,
                changes={"incidents": [None, len(group.incident_ids)]},
                message=reason.split("\n", 1)[0],
            )
    except IntegrityError:
        return None
    return proposal


def _extend(proposal: RecurrenceProposal, group: Group, thresholds: Thresholds, note: str) -> None:
    before: set[int] = proposal._incident_ids  # type: ignore[attr-defined]
    merged = Group(
        kind=group.kind,
        node_id=group.node_id,
        incident_ids=sorted(before | set(group.incident_ids)),
        terms=group.terms,
        nearest=group.nearest,
    )
    title, reason = _describe(merged, thresholds, note)
    added = sorted(set(group.incident_ids) - before)
    with transaction.atomic():
        proposal.title = title
        proposal.reason = reason
        proposal.terms = group.terms
        proposal.signature = merged.signature
        try:
            with transaction.atomic():
                proposal.save()
        except IntegrityError:
            return
        proposal.incidents.add(*added)
        refs = (
            Incident.objects.filter(pk__in=added).order_by("id").values_list("reference", flat=True)
        )
        journal.record(
            proposal,
            by=None,
            verb=JournalEntry.Verb.UPDATED,
            changes={"incidents": [len(before), len(before) + len(added)]},
            message=f"joined: {', '.join(refs)}",
        )
    proposal._incident_ids = before | set(added)  # type: ignore[attr-defined]


# --- decisions ----------------------------------------------------------------------------


def _lock_proposed(proposal: RecurrenceProposal, target: str) -> RecurrenceProposal:
    current = RecurrenceProposal.objects.select_for_update().get(pk=proposal.pk)
    if current.status != ProposalStatus.PROPOSED:
        allowed = [str(s) for s in PROPOSAL_TRANSITIONS.get(current.status, [])]
        raise TransitionError(
            f"Proposal {current.pk} is already {current.get_status_display().lower()}; "
            f"it cannot be {ProposalStatus(target).label.lower()}.",
            allowed=allowed,
        )
    return current


def accept_proposal(
    proposal: RecurrenceProposal,
    *,
    by: Any,
    title: str | None = None,
    owner: Any = None,
    note: str = "",
) -> Problem:
    """Raise a problem for the proposal and link its incidents (those still without a
    problem and not merged away)."""
    from itline.operation.services import create_problem

    require(by, "operation.change_recurrenceproposal")
    with transaction.atomic():
        current = _lock_proposed(proposal, ProposalStatus.ACCEPTED)
        incidents = list(
            current.incidents.filter(problem__isnull=True, merged_into__isnull=True)
            .select_related("service", "component")
            .order_by("created_at", "id")
        )
        priorities = [i.priority for i in incidents]
        problem = create_problem(
            by=by,
            title=(title or "").strip() or current.title,
            description=f"Raised from recurrence proposal #{current.pk}.\n\n{current.reason}",
            service=current.service,
            component=current.component,
            owner=owner,
            priority=min(priorities) if priorities else 3,
            # what users reported, in their words (references would only be noise for the
            # text matching of a known error recorded from this problem later)
            symptoms="\n".join(dict.fromkeys(i.title for i in incidents)),
            incidents=incidents,
        )
        before = journal.snapshot(current)
        current.status = ProposalStatus.ACCEPTED
        current.problem = problem
        current.decided_at = timezone.now()
        current.decision_note = note.strip()
        current.updated_by = by if getattr(by, "pk", None) else None
        current.save()
        journal.record(
            current,
            by=by,
            verb=JournalEntry.Verb.STATE_CHANGED,
            changes=journal.diff(before, journal.snapshot(current)),
            message=f"accepted as {problem.reference}",
        )
    _copy(current, proposal)
    return problem


def dismiss_proposal(proposal: RecurrenceProposal, *, by: Any, reason: str) -> RecurrenceProposal:
    """Record that the group is not a problem, and why; it is not proposed again unless
    enough new incidents join it."""
    require(by, "operation.change_recurrenceproposal")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(
            {"reason": "Say why this is not a problem (it helps the next scan's reader)."}
        )
    with transaction.atomic():
        current = _lock_proposed(proposal, ProposalStatus.DISMISSED)
        before = journal.snapshot(current)
        current.status = ProposalStatus.DISMISSED
        current.decided_at = timezone.now()
        current.decision_note = reason
        current.updated_by = by if getattr(by, "pk", None) else None
        current.full_clean()
        current.save()
        journal.record(
            current,
            by=by,
            verb=JournalEntry.Verb.STATE_CHANGED,
            changes=journal.diff(before, journal.snapshot(current)),
            message=reason,
        )
    return _copy(current, proposal)


def _copy(source: RecurrenceProposal, target: RecurrenceProposal) -> RecurrenceProposal:
    if source is not target:
        for f in RecurrenceProposal._meta.concrete_fields:
            setattr(target, f.attname, getattr(source, f.attname))
        target._state.fields_cache = {}  # type: ignore[attr-defined]
    return target


# --- the periodic task --------------------------------------------------------------------


@task
def detect_recurrence() -> dict[str, int]:
    """Periodic scan for recurring incidents (schedule: ``RECURRENCE_SCHEDULE``)."""
    result = detect_recurring_incidents()
    return {
        "scanned": result.scanned,
        "created": len(result.created),
        "extended": len(result.extended),
        "skipped": len(result.skipped),
    }


try:
    detect_recurrence = cron(getattr(settings, "RECURRENCE_SCHEDULE", "47 * * * *"))(
        detect_recurrence
    )
except ValueError as exc:
    raise ImproperlyConfigured(
        f"RECURRENCE_SCHEDULE is not a valid cron expression: {exc}"
    ) from None
