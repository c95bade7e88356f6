"""Framework pages: home per persona, global search, planned-feature pages, the journal,
profile (API tokens), health and metrics endpoints. Views stay thin: reads and calls to verbs."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from importlib import import_module
from typing import Any

from django.apps import apps as django_apps
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from itline.core import tokens
from itline.core.errors import DomainError
from itline.core.forms import CalendarForm
from itline.core.listing import Column, Filter, ListSpec, render_list
from itline.core.metrics import render as render_metrics
from itline.core.models import ApiToken, BusinessCalendar, JournalEntry
from itline.core.navigation import PLANNED
from itline.core.record_views import form_page, require_agent, timeline
from itline.core.services import create_calendar, update_calendar
from itline.org.models import Customer, Function, Person, person_of
from itline.org.roles import ROLE_BY_SLUG, is_agent, primary_role, roles_of
from itline.org.services import customers_for, people_for, purchasers_for


def _card(title: str, text: str, url: str | None = None, figure: Any = None) -> dict[str, Any]:
    return {"title": title, "text": text, "url": url, "figure": figure}


def _planned(slug: str) -> str:
    return reverse("planned", args=[slug])


PERSONA_HOME: dict[str, tuple[str, str, list[tuple[str, str, str | None]]]] = {
    # role: (title, intro, [(card title, card text, url name or planned slug prefixed "~")])
    "service_desk_agent": (
        "Service desk",
        "Take contacts, register and route them, keep requesters informed.",
        [
            ("Service requests", "Intake queue of every contact.", "operation:request-list"),
            ("Incidents", "Faults to restore within the agreement.", "operation:incident-list"),
            ("People", "Find a requester, their unit and contact details.", "org:person-list"),
            ("Functions", "Who handles what: teams and their leads.", "org:function-list"),
        ],
    ),
    "technician": (
        "My work",
        "Incidents, problems and changes assigned to you and your functions.",
        [
            ("Incidents", "Your queue and your function's queue.", "operation:incident-list"),
            ("Problems", "Root-cause investigations you take part in.", "~problems"),
            ("Changes", "Changes you implement.", "~changes"),
            ("Functions", "Your teams and colleagues.", "org:function-list"),
        ],
    ),
    "incident_manager": (
        "Incident management",
        "Restore service fast: major incidents, breaching clocks, unassigned work.",
        [
            ("Incidents", "Major, breaching soon, unassigned.", "operation:incident-list"),
            ("Events", "Alerts from monitoring and their correlation.", "~events"),
            ("Functions", "Resolver groups and their leads.", "org:function-list"),
        ],
    ),
    "problem_manager": (
        "Problem management",
        "Stop faults from coming back: recurring incidents, root causes, known errors.",
        [
            ("Problems", "Open investigations.", "~problems"),
            ("Known errors", "Workarounds offered to agents.", "~known-errors"),
            ("Functions", "Who investigates which part of the line.", "org:function-list"),
        ],
    ),
    "change_manager": (
        "Change enablement",
        "Protect the line during change: risk, approvals, the calendar.",
        [
            ("Changes", "Awaiting assessment and approval.", "~changes"),
            ("Change calendar", "Scheduled changes and freeze windows.", "~change-calendar"),
            ("Functions", "The CAB and implementing teams.", "org:function-list"),
        ],
    ),
    "service_owner": (
        "Service ownership",
        "Your services end to end: agreements, incidents, changes, cost.",
        [
            ("Agreements", "Service levels you deliver.", "~agreements"),
            ("Service reviews", "Show customers the value delivered.", "~service-reviews"),
            ("Customers", "Who uses your services.", "org:customer-list"),
            ("Functions", "Teams delivering your services.", "org:function-list"),
        ],
    ),
    "steering_group_member": (
        "IT steering",
        "Strategic level: goals, portfolio, policy, escalations.",
        [
            ("Goals", "Business and IT goals.", "~goals"),
            ("Portfolio", "Services proposed, live and retiring.", "~portfolio"),
            ("Decisions", "The decision log.", "~decisions"),
            ("Functions", "Governance: strategic, tactical, operational.", "org:function-list"),
        ],
    ),
    "administrator": (
        "Administration",
        "People, functions, roles, API tokens and the health of this installation.",
        [
            ("People", "People and their logins and roles.", "org:person-list"),
            ("Functions", "Teams, governance levels, leads, members.", "org:function-list"),
            ("Business units", "The business side's hierarchy.", "org:businessunit-list"),
            ("Customers", "Units that decide on and fund services.", "org:customer-list"),
            ("Journal", "Every change anyone made.", "journal"),
        ],
    ),
}


@login_required
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    role = primary_role(user)
    if not is_agent(user):
        return portal_home(request)
    title, intro, card_specs = PERSONA_HOME.get(role or "technician", PERSONA_HOME["technician"])
    cards = []
    for card_title, text, target in card_specs:
        if target and target.startswith("~"):
            cards.append({**_card(card_title, text, _planned(target[1:])), "planned": True})
        else:
            cards.append(_card(card_title, text, reverse(target) if target else None))
    person = person_of(user)
    my_functions = (
        Function.objects.filter(pk__in=person.memberships.values("function")).annotate(
            n=Count("memberships")
        )
        if person
        else Function.objects.none()
    )
    stats = {}
    if role == "administrator":
        stats = {
            "people": Person.objects.count(),
            "functions": Function.objects.count(),
            "customers": Customer.objects.count(),
            "logins": Person.objects.filter(user__isnull=False).count(),
        }
    return render(
        request,
        "core/home.html",
        {
            "title": title,
            "intro": intro,
            "cards": cards,
            "role": ROLE_BY_SLUG.get(role or ""),
            "my_functions": my_functions,
            "stats": stats,
            "recent": JournalEntry.objects.filter(actor_id=user.pk).order_by("-at")[:8],
        },
    )


def portal_home(request: HttpRequest) -> HttpResponse:
    user = request.user
    person = person_of(user)
    mine = roles_of(user)
    customers = (
        customers_for(user)
        .filter(Q(decision_maker=person) | Q(purchasers__person=person))
        .distinct()
        if person
        else Customer.objects.none()
    )
    portal: dict[str, Any] = {}
    if django_apps.is_installed("itline.operation"):
        # Read-only summary from a later app (requests, service status); core stays free of
        # Operation otherwise.
        from itline.operation.portal_views import home_context

        portal = home_context(user)
    return render(
        request,
        "core/portal_home.html",
        {
            **portal,
            "person": person,
            "roles": [ROLE_BY_SLUG[r] for r in sorted(mine)],
            "customers": customers,
            "purchasers": purchasers_for(user).filter(customer__in=customers)
            if "customer_representative" in mine
            else [],
            "colleagues": people_for(user).exclude(pk=person.pk)[:50] if person else [],
        },
    )


@login_required
def planned(request: HttpRequest, slug: str) -> HttpResponse:
    if slug not in PLANNED:
        raise Http404("No such page")
    phase, label = PLANNED[slug]
    return render(request, "core/planned.html", {"phase": phase, "label": label})


@login_required
def search(request: HttpRequest) -> HttpResponse:
    """Global search across references and names of everything the user may see; apps
    contribute their record types through settings.SEARCH_MODULES."""
    q = request.GET.get("q", "").strip()
    results: list[dict[str, Any]] = []
    if q:
        sources = [
            source
            for name in settings.SEARCH_MODULES
            for source in import_module(name).sources(request.user)
        ]
        for kind, qs, fields, url_name in sources:
            cond = Q()
            for f in fields:
                cond |= Q(**{f"{f}__icontains": q})
            for obj in qs.filter(cond)[:20]:
                url = reverse(url_name, args=[obj.reference]) if is_agent(request.user) else None
                results.append({"kind": kind, "obj": obj, "url": url})
        exact = [r for r in results if r["obj"].reference.upper() == q.upper()]
        if len(exact) == 1 and exact[0]["url"] and not getattr(request, "htmx", False):
            return redirect(exact[0]["url"])
    template = "core/search.html#results" if getattr(request, "htmx", False) else "core/search.html"
    return render(request, template, {"q": q, "results": results})


JOURNAL_LIST = ListSpec(
    title="Journal",
    template="core/journal_list.html",
    search_fields=("object_repr", "actor_label", "message"),
    columns=(
        Column("When", "at"),
        Column("Who"),
        Column("What"),
        Column("Record"),
        Column("Changes"),
    ),
    default_sort="-at",
    filters=(
        Filter("verb", "Verb", JournalEntry.Verb.choices, "verb"),
        Filter(
            "type",
            "Record type",
            lambda: [
                (f"{ct.app_label}.{ct.model}", ct.name.capitalize()) for ct in _journal_types()
            ],
            lambda v: Q(
                content_type__app_label=v.partition(".")[0], content_type__model=v.partition(".")[2]
            ),
        ),
    ),
    empty_text="No changes recorded yet.",
    extra={"count_noun": "entries"},
)


def _journal_types() -> list[Any]:
    from django.contrib.contenttypes.models import ContentType

    ids = JournalEntry.objects.values_list("content_type", flat=True).distinct()
    return list(ContentType.objects.filter(pk__in=ids).order_by("model"))


@permission_required("core.view_journalentry", raise_exception=True)
def journal_list(request: HttpRequest) -> HttpResponse:
    return render_list(
        request, JOURNAL_LIST, JournalEntry.objects.select_related("actor", "content_type")
    )


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    # The secret survives exactly one redirect (post/redirect/get), then it is gone.
    new_secret = request.session.pop("new_token_secret", None)
    form_errors: dict[str, list[str]] = {}
    if request.method == "POST":
        try:
            token, secret = tokens.create_token(
                user=request.user,
                name=request.POST.get("name", ""),
                scope=request.POST.get("scope", ""),
            )
        except ValidationError as exc:
            form_errors = exc.message_dict
        else:
            messages.success(
                request, f"Token {token.name!r} created. Copy it now; it is shown once."
            )
            request.session["new_token_secret"] = secret
            return redirect("profile")
    return render(
        request,
        "core/profile.html",
        {
            "person": person_of(request.user),
            "roles": [ROLE_BY_SLUG[r] for r in sorted(roles_of(request.user))],
            "tokens": ApiToken.objects.filter(user_id=request.user.pk or 0),
            "new_secret": new_secret,
            "form_errors": form_errors,
            "scopes": ApiToken.Scope.choices,
            "values": request.POST if form_errors else {},
        },
        status=422 if form_errors else 200,
    )


@login_required
@require_POST
def revoke_token(request: HttpRequest, token_id: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=token_id, user=request.user)
    try:
        tokens.revoke_token(token, by=request.user)
        messages.success(request, f"Token {token.name!r} revoked.")
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("profile")


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return JsonResponse({"status": "ok", "database": "ok"})
    except Exception as exc:  # any database failure means "unhealthy", never a 500 page
        return JsonResponse({"status": "error", "database": str(exc)[:200]}, status=503)


@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    body, content_type = render_metrics()
    return HttpResponse(body, content_type=content_type)


def error_404(request: HttpRequest, exception: Exception) -> HttpResponse:
    return render(
        request,
        "core/error.html",
        {"code": 404, "message": "This page does not exist."},
        status=404,
    )


def error_403(request: HttpRequest, exception: Exception) -> HttpResponse:
    message = str(exception) or "You are not allowed to see this page."
    return render(request, "core/error.html", {"code": 403, "message": message}, status=403)


def error_500(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "core/error.html",
        {"code": 500, "message": "Something went wrong on our side; it has been logged."},
        status=500,
    )


# --- business calendars -------------------------------------------------------------------

CALENDAR_LIST = ListSpec(
    title="Business calendars",
    template="core/calendar_list.html",
    search_fields=("name", "reference", "description"),
    columns=(
        Column("Reference", "reference"),
        Column("Name", "name"),
        Column("Time zone", "time_zone"),
        Column("Holidays"),
        Column("Hours a week"),
    ),
    default_sort="name",
    create_label="New calendar",
    empty_text="Business calendars say when the IT organisation works; SLA clocks count on them.",
)


@login_required
def calendar_list(request: HttpRequest) -> HttpResponse:
    require_agent(request, "core.view_businesscalendar")
    can_add = request.user.has_perm("core.add_businesscalendar")
    spec = replace(CALENDAR_LIST, create_url=reverse("calendar-create") if can_add else None)
    return render_list(request, spec, BusinessCalendar.objects.all())


@login_required
def calendar_detail(request: HttpRequest, ref: str) -> HttpResponse:
    require_agent(request, "core.view_businesscalendar")
    calendar = get_object_or_404(BusinessCalendar, reference=ref)
    engine = calendar.engine()
    today = timezone.localdate()
    upcoming: list[Any] = []
    day = today
    while len(upcoming) < 8 and (day - today).days < 400:
        if engine.is_holiday(day):
            upcoming.append(day)
        day += timedelta(days=1)
    now = timezone.now()
    return render(
        request,
        "core/calendar_detail.html",
        {
            "calendar": calendar,
            "week": calendar_week(calendar),
            "upcoming": upcoming,
            "open_now": engine.is_business_time(now),
            "next_open": engine.next_business_instant(now),
            "timeline": timeline(calendar),
        },
    )


def calendar_week(calendar: BusinessCalendar) -> list[dict[str, Any]]:
    """Rows for the timetable picture: per weekday, its intervals as % of the day."""
    from itline.core.calendar import WorkingHours
    from itline.core.forms import WEEKDAYS

    hours = WorkingHours.from_dict(calendar.working_hours)
    rows = []
    for index, (_, label) in enumerate(WEEKDAYS):
        blocks = [
            {
                "left": round(start / 14.4, 2),
                "width": round((end - start) / 14.4, 2),
                "label": f"{start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}",
            }
            for start, end in hours.intervals(index)
        ]
        minutes = sum(end - start for start, end in hours.intervals(index))
        rows.append({"day": label, "blocks": blocks, "hours": round(minutes / 60, 2)})
    return rows


@login_required
def calendar_create(request: HttpRequest) -> HttpResponse:
    require_agent(request, "core.add_businesscalendar")
    return form_page(
        request,
        form_class=CalendarForm,
        instance=None,
        save=lambda form: create_calendar(by=request.user, **form.values()),
        title="New business calendar",
        cancel_url=reverse("calendar-list"),
        success_message="Calendar {obj} created.",
        pass_form=True,
    )


@login_required
def calendar_edit(request: HttpRequest, ref: str) -> HttpResponse:
    require_agent(request, "core.change_businesscalendar")
    calendar = get_object_or_404(BusinessCalendar, reference=ref)
    return form_page(
        request,
        form_class=CalendarForm,
        instance=BusinessCalendar.objects.get(pk=calendar.pk),
        save=lambda form: update_calendar(calendar, by=request.user, **form.values()),
        title=f"Edit {calendar}",
        cancel_url=calendar.get_absolute_url(),
        success_message="Calendar {obj} saved.",
        pass_form=True,
    )
