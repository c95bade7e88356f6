"""Pages of event management: the alert console (open groups and firing alerts with their
counts, filters held in the URL, acknowledge and silence, live refresh), one alert with its
history, alert groups, and the unmapped alerts. Thin: reads plus E2's verbs
(``itline.operation.services.alerts``); every verb error becomes a message, never a 500."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q, QuerySet, TextField
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from itline.cmdb.models import Component, Node, Service
from itline.core.listing import Column, Filter, ListSpec, render_list
from itline.core.record_views import require_agent
from itline.operation.models.alerts import (
    SEVERITY_RANK,
    Alert,
    AlertGroup,
    AlertGroupStatus,
    AlertStatus,
    AlertTransition,
    EventSource,
    Severity,
)
from itline.operation.node_panels import node_scope, severity_rank
from itline.operation.views.common import report, safe_next

GROUPS_SHOWN = 12
MEMBERS_SHOWN = 200
HISTORY_SHOWN = 200
BY_SERVICE_SHOWN = 12
CHART_DAYS = (1, 7, 30, 90)
SILENCE_FOR = (
    ("1h", "1 hour", timedelta(hours=1)),
    ("4h", "4 hours", timedelta(hours=4)),
    ("8h", "8 hours", timedelta(hours=8)),
    ("24h", "24 hours", timedelta(hours=24)),
    ("3d", "3 days", timedelta(days=3)),
    ("7d", "7 days", timedelta(days=7)),
)
MAX_SILENCE = timedelta(days=90)
# The duration options of every row's silence form, rendered once (a console has 50 rows).
SILENCE_OPTIONS = mark_safe(
    "".join(
        f'<option value="{k}"{" selected" if k == "4h" else ""}>{label}</option>'
        for k, label, _ in SILENCE_FOR
    )
    + '<option value="until">Until a time</option>'
)


# --- filters --------------------------------------------------------------------------------


def _service_choices() -> list[tuple[str, str]]:
    return list(Service.objects.order_by("name").values_list("reference", "name"))


def _source_choices() -> list[tuple[str, str]]:
    return list(EventSource.objects.order_by("name").values_list("name", "name"))


def _service_q(ref: str) -> Q:
    """Alerts of the service and of everything it runs on (as on the service page)."""
    node = Node.objects.filter(reference=ref).only("id", "kind").first()
    if node is None:
        return Q(pk__in=[])
    return node_scope(node)[1]


def _group_service_q(ref: str) -> Q:
    node = Node.objects.filter(reference=ref).only("id", "kind").first()
    if node is None:
        return Q(pk__in=[])
    ids = node_scope(node)[0]
    return Q(service_id__in=ids) | Q(probable_cause_id__in=ids)


def _attention_q(value: str) -> Q:
    now = timezone.now()
    silenced = Q(silenced_until__gt=now)
    return {
        "new": Q(acknowledged_at__isnull=True) & ~silenced & Q(suppressed_by__isnull=True),
        "acknowledged": Q(acknowledged_at__isnull=False),
        "silenced": silenced,
        "suppressed": Q(suppressed_by__isnull=False),
        "flapping": Q(flapping=True),
    }[value]


ATTENTION = [
    ("new", "Needs attention"),
    ("acknowledged", "Acknowledged"),
    ("silenced", "Silenced"),
    ("suppressed", "In maintenance"),
    ("flapping", "Flapping"),
]
SEVERITY_FILTER = Filter("severity", "Severity", Severity.choices, "severity")
STATUS_FILTER = Filter("status", "Status", AlertStatus.choices, "status")
SOURCE_FILTER = Filter("source", "Source", _source_choices, "source__name")


@dataclass(frozen=True)
class LabelFilter:
    """``key=value`` (or just ``key``: the label is present); None when the text is empty."""

    key: str
    value: str | None

    @classmethod
    def parse(cls, text: str) -> LabelFilter | None:
        text = text.strip()
        if not text:
            return None
        key, eq, value = text.partition("=")
        key = key.strip()
        if not key:
            raise ValueError("Write the label filter as key=value, e.g. instance=db-01.")
        return cls(key, value.strip() if eq else None)

    def apply(self, qs: QuerySet[Alert]) -> QuerySet[Alert]:
        # As text: a bare key transform would compare JSON on SQLite.
        annotated = qs.annotate(
            _label=Cast(KeyTextTransform(self.key, "labels"), output_field=TextField())
        )
        if self.value is None:
            return annotated.filter(_label__isnull=False)
        return annotated.filter(_label=self.value)

    def __str__(self) -> str:
        return self.key if self.value is None else f"{self.key}={self.value}"


def alert_queryset() -> QuerySet[Alert]:
    return Alert.objects.select_related(
        "source",
        "component",
        "service",
        "group",
        "group__incident",
        "suppressed_by",
        "acknowledged_by",
    )


# --- the console ----------------------------------------------------------------------------

CONSOLE = ListSpec(
    title="Alert console",
    template="operation/alerts/console.html",
    search_fields=("name", "summary", "fingerprint"),
    columns=(
        Column("Severity"),
        Column("Alert", "name"),
        Column("Where"),
        Column("Source"),
        Column("Status"),
        Column("Since", "changed_at"),
        Column("Last seen", "last_seen_at"),
        Column("Group"),
        Column("Actions"),
    ),
    default_sort="-changed_at",
    filters=(
        Filter(
            "status",
            "Status",
            [*AlertStatus.choices, ("any", "Any status")],
            lambda v: Q() if v == "any" else Q(status=v),
        ),
        SEVERITY_FILTER,
        Filter("service", "Service", _service_choices, _service_q),
        SOURCE_FILTER,
        Filter("attention", "Handling", ATTENTION, _attention_q),
    ),
    page_size=50,
    empty_text="Alerts arrive from monitoring through the event sources. Create a source, "
    "point Alertmanager or PagerDuty integrations at it, and firing alerts show here.",
    count_cap=10_000,
)


def _with_default_status(request: HttpRequest) -> None:
    """The console opens on what is firing; ``status=any`` shows history too. The default is
    written into the query so every link on the page carries it."""
    if request.GET.get("status") in (None, ""):
        query = request.GET.copy()
        query["status"] = AlertStatus.FIRING
        request.GET = query  # type: ignore[assignment]


def _summary(
    groups: QuerySet[AlertGroup], firing: QuerySet[Alert], params: dict[str, str]
) -> dict[str, Any]:
    """Open groups and firing alerts by severity, and open groups by service."""
    group_counts = dict(groups.values_list("severity").annotate(n=Count("id")).order_by())
    alert_counts = dict(firing.values_list("severity").annotate(n=Count("id")).order_by())
    by_service: dict[int, dict[str, Any]] = {}
    rows = groups.values_list("service_id", "service__name", "severity").annotate(n=Count("id"))
    for service_id, name, severity, n in rows.order_by():
        entry = by_service.setdefault(
            service_id or 0, {"name": name or "No service", "ref": None, "total": 0, "worst": 0}
        )
        entry["total"] += n
        entry["worst"] = max(entry["worst"], SEVERITY_RANK.get(severity, 0))
        entry["id"] = service_id
    refs = dict(
        Node.objects.filter(pk__in=[k for k in by_service if k]).values_list("id", "reference")
    )
    services = sorted(by_service.values(), key=lambda e: (-e["worst"], -e["total"], e["name"]))
    worst_name = {rank: value for value, rank in SEVERITY_RANK.items()}
    for entry in services:
        entry["ref"] = refs.get(entry["id"])
        entry["severity"] = worst_name.get(entry["worst"], "info")
        entry["url"] = _query(params, service=entry["ref"]) if entry["ref"] else None
    return {
        "severities": [
            {
                "value": s.value,
                "label": s.label,
                "groups": group_counts.get(s.value, 0),
                "alerts": alert_counts.get(s.value, 0),
            }
            for s in Severity
        ],
        "group_total": sum(group_counts.values()),
        "alert_total": sum(alert_counts.values()),
        "by_service": services[:BY_SERVICE_SHOWN],
        "more_services": max(0, len(services) - BY_SERVICE_SHOWN),
    }


def _open_groups(request: HttpRequest) -> QuerySet[AlertGroup]:
    groups = AlertGroup.objects.filter(status=AlertGroupStatus.OPEN)
    severity = request.GET.get("severity", "")
    if severity in Severity.values:
        groups = groups.filter(severity=severity)
    service = request.GET.get("service", "")
    if service:
        groups = groups.filter(_group_service_q(service))
    return groups


@login_required
def console(request: HttpRequest) -> HttpResponse:
    require_agent(request, "operation.view_alert")
    _with_default_status(request)
    queryset = alert_queryset()
    label_text = request.GET.get("label", "")
    component_ref = request.GET.get("component", "")
    errors: list[str] = []
    label = None
    try:
        label = LabelFilter.parse(label_text)
    except ValueError as exc:
        errors.append(str(exc))
    if label is not None:
        queryset = label.apply(queryset)
    component = None
    if component_ref:
        component = Component.objects.filter(reference=component_ref).only("name").first()
        if component is None:
            errors.append(f"Unknown component {component_ref!r}; the filter was ignored.")
        else:
            queryset = queryset.filter(component=component)
    groups = _open_groups(request)
    shown_groups = list(
        groups.select_related("service", "probable_cause", "incident")
        .annotate(
            rank=severity_rank(),
            acknowledged=Count(
                "alerts",
                filter=Q(alerts__status=AlertStatus.FIRING, alerts__acknowledged_at__isnull=False),
            ),
        )
        .order_by("-rank", "-last_alert_at", "-id")[:GROUPS_SHOWN]
    )
    firing = Alert.objects.filter(status=AlertStatus.FIRING)
    unmapped = firing.filter(component__isnull=True, service__isnull=True)
    can_act = request.user.has_perm("operation.change_alert")
    params: dict[str, str] = {k: str(v) for k, v in request.GET.items() if k != "cursor"}
    extra_chips = []
    if label is not None:
        extra_chips.append(
            {"label": "Label", "value": str(label), "clear_url": _query(params, label="")}
        )
    if component is not None:
        extra_chips.append(
            {
                "label": "Component",
                "value": component.name,
                "clear_url": _query(params, component=""),
            }
        )
    summary = _summary(AlertGroup.objects.filter(status=AlertGroupStatus.OPEN), firing, params)
    for entry in summary["severities"]:
        active = params.get("severity") == entry["value"]
        entry["url"] = _query(params, severity="" if active else entry["value"])
    spec = replace(
        CONSOLE,
        extra={
            "summary": summary,
            "open_groups": shown_groups,
            "open_group_count": groups.count(),
            "unmapped_count": unmapped.count(),
            "can_act": can_act,
            "silence_options": SILENCE_OPTIONS,
            "base": reverse("alerts:console"),
            "label_text": label_text,
            "extra_chips": extra_chips,
            "extra_errors": errors,
            "refresh_seconds": settings.ALERT_CONSOLE_REFRESH_SECONDS,
            "here": request.get_full_path(),
            "now": timezone.now(),
        },
    )
    return render_list(request, spec, queryset)


def _query(params: dict[str, str], **changes: str) -> str:
    query = QueryDict(mutable=True)
    for key, value in {**params, **changes}.items():
        if value:
            query[key] = value
    return "?" + query.urlencode()


# --- actions --------------------------------------------------------------------------------


class SilenceForm(forms.Form):
    duration = forms.ChoiceField(
        label="Silence for",
        choices=[(k, label) for k, label, _ in SILENCE_FOR] + [("until", "Until a time")],
        initial="4h",
    )
    until = forms.DateTimeField(
        label="Until",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text="Only with “Until a time”; in your time zone.",
    )
    reason = forms.CharField(label="Reason", max_length=300)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        now = timezone.now()
        if data.get("duration") == "until":
            until = data.get("until")
            if until is None:
                self.add_error("until", "Say until when the alert stays silent.")
                return data
            if until <= now:
                self.add_error("until", "Pick a time in the future.")
            elif until - now > MAX_SILENCE:
                self.add_error("until", "Silence for at most 90 days; fix the cause instead.")
            data["until_at"] = until
        elif data.get("duration"):
            data["until_at"] = now + {k: d for k, _, d in SILENCE_FOR}[data["duration"]]
        return data


def _can_act(request: HttpRequest) -> None:
    require_agent(request, "operation.change_alert")


@login_required
@require_POST
def alert_acknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    from itline.operation.services.alerts import acknowledge_alert

    _can_act(request)
    alert = get_object_or_404(Alert, pk=pk)
    report(
        request,
        lambda: acknowledge_alert(alert, by=request.user),
        f"Acknowledged {alert.name or alert.fingerprint[:12]}.",
    )
    return redirect(safe_next(request, alert.get_absolute_url()))


@login_required
@require_POST
def alert_silence(request: HttpRequest, pk: int) -> HttpResponse:
    from itline.operation.services.alerts import silence_alert

    _can_act(request)
    alert = get_object_or_404(Alert, pk=pk)
    form = SilenceForm(request.POST)
    if not form.is_valid():
        problems = [
            f"{form.fields[f].label if f in form.fields else ''}: {' '.join(map(str, e))}".lstrip(
                ": "
            )
            for f, e in form.errors.items()
        ]
        messages.error(request, "Not silenced. " + " ".join(problems))
        return redirect(safe_next(request, alert.get_absolute_url()))
    until = form.cleaned_data["until_at"]
    report(
        request,
        lambda: silence_alert(
            alert, by=request.user, until=until, reason=form.cleaned_data["reason"]
        ),
        f"Silenced {alert.name or alert.fingerprint[:12]} until "
        f"{timezone.localtime(until):%Y-%m-%d %H:%M}.",
    )
    return redirect(safe_next(request, alert.get_absolute_url()))


@login_required
@require_POST
def alert_unsilence(request: HttpRequest, pk: int) -> HttpResponse:
    from itline.operation.services.alerts import unsilence_alert

    _can_act(request)
    alert = get_object_or_404(Alert, pk=pk)
    report(
        request,
        lambda: unsilence_alert(alert, by=request.user),
        f"{alert.name or alert.fingerprint[:12]} is no longer silenced.",
    )
    return redirect(safe_next(request, alert.get_absolute_url()))


@login_required
@require_POST
def group_acknowledge(request: HttpRequest, ref: str) -> HttpResponse:
    from itline.operation.services.alerts import acknowledge_group

    _can_act(request)
    group = get_object_or_404(AlertGroup, reference=ref)
    report(
        request,
        lambda: acknowledge_group(group, by=request.user),
        f"Acknowledged every alert of {group.reference}.",
    )
    return redirect(safe_next(request, group.get_absolute_url()))


# --- one alert ------------------------------------------------------------------------------


def firing_periods(
    alert: Alert, start: datetime, end: datetime
) -> tuple[list[tuple[datetime, datetime]], int]:
    """The periods within [start, end) in which the alert was firing, from its transitions
    (plus the state it was in at ``start``), and how many times it started firing there."""
    before = (
        AlertTransition.objects.filter(alert=alert, at__lt=start)
        .order_by("-at", "-id")
        .values_list("status", flat=True)
        .first()
    )
    inside = list(
        AlertTransition.objects.filter(alert=alert, at__gte=start, at__lt=end)
        .order_by("at", "id")
        .values_list("status", "at")
    )
    periods = []
    opened: datetime | None = start if before == AlertStatus.FIRING else None
    fired = 0
    for status, at in inside:
        if status == AlertStatus.FIRING:
            if opened is None:
                opened = at
                fired += 1
        elif opened is not None:
            periods.append((opened, at))
            opened = None
    if opened is not None:
        periods.append((opened, end))
    return periods, fired


def strip_chart(
    periods: list[tuple[datetime, datetime]], start: datetime, end: datetime
) -> dict[str, Any]:
    """Geometry of the firing-periods strip (an SVG 1000 units wide), with day ticks."""
    span = (end - start).total_seconds() or 1.0

    def x(at: datetime) -> float:
        return round((at - start).total_seconds() / span * 1000, 2)

    bars = [
        {"x": x(a), "width": max(1.5, round(x(b) - x(a), 2)), "start": a, "end": b}
        for a, b in periods
    ]
    days = (end - start).days or 1
    step = 1 if days <= 7 else 7 if days <= 60 else 14
    local_start = timezone.localtime(start)
    first = (local_start + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    ticks = []
    tick = first
    while tick < end:
        ticks.append({"x": x(tick), "label": f"{tick:%d %b}"})
        tick = tick + timedelta(days=step)
    if days == 1:
        ticks = []
        hour = local_start.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        while hour < end:
            if hour.hour % 3 == 0:
                ticks.append({"x": x(hour), "label": f"{hour:%H:%M}"})
            hour += timedelta(hours=1)
    firing_seconds = sum((b - a).total_seconds() for a, b in periods)
    return {
        "bars": bars,
        "ticks": ticks,
        "share": round(100 * firing_seconds / span, 1),
        "firing_for": timedelta(seconds=int(firing_seconds)),
    }


@login_required
def alert_detail(request: HttpRequest, pk: int) -> HttpResponse:
    require_agent(request, "operation.view_alert")
    alert = get_object_or_404(
        alert_queryset().select_related(
            "mapping_rule", "group__probable_cause", "group__service", "silenced_by"
        ),
        pk=pk,
    )
    try:
        days = int(request.GET.get("days", "7"))
    except ValueError:
        days = 7
    if days not in CHART_DAYS:
        days = 7
    end = timezone.now()
    start = end - timedelta(days=days)
    periods, fired = firing_periods(alert, start, end)
    history = list(alert.history.order_by("-at", "-id")[:HISTORY_SHOWN])
    for newer, older in pairwise(history):
        older.lasted = newer.at - older.at  # type: ignore[attr-defined]
    if history and history[0].status == alert.status:
        history[0].lasted = end - history[0].at  # type: ignore[attr-defined]
        history[0].ongoing = True  # type: ignore[attr-defined]
    can_act = request.user.has_perm("operation.change_alert")
    return render(
        request,
        "operation/alerts/detail.html",
        {
            "alert": alert,
            "labels": sorted((alert.labels or {}).items()),
            "annotations": sorted((alert.annotations or {}).items()),
            "chart": strip_chart(periods, start, end),
            "chart_days": [
                {"days": d, "current": d == days, "url": f"?days={d}"} for d in CHART_DAYS
            ],
            "days": days,
            "fired": fired,
            "history": history,
            "history_count": alert.transitions,
            "decisions": list(alert.decisions or []),
            "can_act": can_act,
            "silenced": alert.is_silenced(),
            "silence_form": SilenceForm() if can_act else None,
            "silence_for": [(k, label_) for k, label_, _ in SILENCE_FOR],
            "here": request.get_full_path(),
        },
    )


# --- alert groups ---------------------------------------------------------------------------

GROUP_LIST = ListSpec(
    title="Alert groups",
    template="operation/alerts/group_list.html",
    search_fields=("reference", "title"),
    columns=(
        Column("Reference", "reference"),
        Column("Title", "title"),
        Column("Severity"),
        Column("Status", "status"),
        Column("Probable cause"),
        Column("Service"),
        Column("Alerts"),
        Column("Incident"),
        Column("Last alert", "last_alert_at"),
    ),
    default_sort="-last_alert_at",
    filters=(
        Filter("status", "Status", AlertGroupStatus.choices, "status"),
        SEVERITY_FILTER,
        Filter("service", "Service", _service_choices, _group_service_q),
    ),
    empty_text="Correlation groups alerts whose components are related in the structure; "
    "the groups show here as alerts arrive.",
    count_cap=10_000,
)


@login_required
def group_list(request: HttpRequest) -> HttpResponse:
    require_agent(request, "operation.view_alertgroup")
    qs = AlertGroup.objects.select_related("probable_cause", "service", "incident")
    return render_list(request, GROUP_LIST, qs)


def structure_paths(group: AlertGroup, alerts: Sequence[Alert]) -> list[dict[str, Any]]:
    """For each component of the group, the way from the probable cause up to it in the
    structure (what the cause impacts), as named steps; ``steps`` is empty for a component
    the cause does not reach (grouped by time and labels only)."""
    if group.probable_cause_id is None:
        return []
    from itline.cmdb.impact import impact

    reach = impact([group.probable_cause_id], "up")
    targets = sorted({a.component_id for a in alerts if a.component_id} - {group.probable_cause_id})
    paths = {t: reach.path(t) for t in targets}
    ids = {n for p in paths.values() for n in p} | set(targets)
    nodes = {
        n.pk: n for n in Node.objects.filter(pk__in=ids).only("id", "reference", "name", "kind")
    }
    return [
        {"target": nodes.get(t), "steps": [nodes[n] for n in path if n in nodes]}
        for t, path in paths.items()
    ]


@login_required
def group_detail(request: HttpRequest, ref: str) -> HttpResponse:
    require_agent(request, "operation.view_alertgroup")
    group = get_object_or_404(
        AlertGroup.objects.select_related("probable_cause", "service", "incident"),
        reference=ref,
    )
    members = list(
        alert_queryset()
        .filter(group=group)
        .annotate(rank=severity_rank())
        .order_by("status", "-rank", "changed_at", "id")[:MEMBERS_SHOWN]
    )
    return render(
        request,
        "operation/alerts/group_detail.html",
        {
            "group": group,
            "members": members,
            "member_count": group.alerts.count(),
            "paths": structure_paths(group, members),
            "decisions": list(group.decisions or []),
            "can_act": request.user.has_perm("operation.change_alert")
            and group.status == AlertGroupStatus.OPEN,
            "here": request.get_full_path(),
        },
    )


# --- unmapped alerts ------------------------------------------------------------------------

UNMAPPED = ListSpec(
    title="Unmapped alerts",
    template="operation/alerts/unmapped.html",
    search_fields=("name", "summary", "fingerprint"),
    columns=(
        Column("Severity"),
        Column("Alert", "name"),
        Column("Labels"),
        Column("Source"),
        Column("Status", "status"),
        Column("Last seen", "last_seen_at"),
    ),
    default_sort="-last_seen_at",
    filters=(STATUS_FILTER, SEVERITY_FILTER, SOURCE_FILTER),
    empty_text="Every alert maps to a component or service. Alerts that no mapping rule "
    "recognises show here, so a new host or job is never missed.",
    count_cap=10_000,
)


@login_required
def unmapped_list(request: HttpRequest) -> HttpResponse:
    require_agent(request, "operation.view_alert")
    qs = Alert.objects.filter(component__isnull=True, service__isnull=True).select_related("source")
    can_map = request.user.has_perm("operation.add_mappingrule")
    spec = replace(
        UNMAPPED,
        create_url=reverse("alerts:mapping-create") if can_map else None,
        create_label="New mapping rule",
    )
    return render_list(request, spec, qs)
