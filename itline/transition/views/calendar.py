"""The change calendar: month, week and day views of scheduled changes (coloured by risk),
maintenance windows and freeze windows (shaded), filtered by service, function and risk, with
prev/next/today; all state in the URL. Every view has the same entries as a table for screen
readers and phones, and a subscribe link to the iCalendar feed of the same filter."""

from __future__ import annotations

import calendar as pycal
import datetime as dt
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache

from itline.core.models import ApiToken
from itline.operation.filters import service_choices
from itline.org.models import Function
from itline.org.roles import is_agent
from itline.transition.change_calendar import CalendarFilter, Entry, entries_between
from itline.transition.choices import RiskLevel
from itline.transition.views.common import VIEW, require_agent

VIEWS = ("month", "week", "day")


def _anchor(text: str, errors: list[str]) -> dt.date:
    today = timezone.localdate()
    if not text:
        return today
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        errors.append(f"{text!r} is not a date (YYYY-MM-DD); showing today.")
        return today
    if not 1970 <= day.year <= 2200:
        errors.append(f"{text!r} is out of range; showing today.")
        return today
    return day


def period(view: str, day: dt.date) -> tuple[dt.date, dt.date, dt.date, dt.date]:
    """(first day shown, day after the last, previous anchor, next anchor)."""
    if view == "day":
        return (
            day,
            day + dt.timedelta(days=1),
            day - dt.timedelta(days=1),
            day + dt.timedelta(days=1),
        )
    if view == "week":
        start = day - dt.timedelta(days=day.weekday())
        return (
            start,
            start + dt.timedelta(days=7),
            start - dt.timedelta(days=7),
            start + (dt.timedelta(days=7)),
        )
    first = day.replace(day=1)
    start = first - dt.timedelta(days=first.weekday())
    last = first.replace(day=pycal.monthrange(first.year, first.month)[1])
    end = last + dt.timedelta(days=7 - last.weekday())
    prev_month = (first - dt.timedelta(days=1)).replace(day=1)
    next_month = last + dt.timedelta(days=1)
    return start, end, prev_month, next_month


def _aware(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=timezone.get_current_timezone())


def _cell(entry: Entry, day_start: dt.datetime, day_end: dt.datetime) -> dict[str, Any]:
    """An entry as seen on one day: clipped times, and where it sits in the day (0..100 %)."""
    begins = max(entry.starts_at, day_start)
    ends = min(entry.ends_at, day_end)
    span = (day_end - day_start).total_seconds()
    return {
        "entry": entry,
        "from": timezone.localtime(begins),
        "to": timezone.localtime(ends),
        "continues_before": entry.starts_at < day_start,
        "continues_after": entry.ends_at > day_end,
        "left": round((begins - day_start).total_seconds() / span * 100, 2),
        "width": max(1.0, round((ends - begins).total_seconds() / span * 100, 2)),
    }


def build(view: str, day: dt.date, flt: CalendarFilter) -> dict[str, Any]:
    start, end, prev_day, next_day = period(view, day)
    entries, cut = entries_between(_aware(start), _aware(end), flt)
    days = []
    d = start
    today = timezone.localdate()
    while d < end:
        ds, de = _aware(d), _aware(d + dt.timedelta(days=1))
        on_day = [e for e in entries if e.overlaps(ds, de)]
        days.append(
            {
                "date": d,
                "today": d == today,
                "other_month": view == "month" and d.month != day.month,
                "frozen": [_cell(e, ds, de) for e in on_day if e.kind == "freeze"],
                "items": [_cell(e, ds, de) for e in on_day if e.kind != "freeze"],
            }
        )
        d += dt.timedelta(days=1)
    weeks = [days[i : i + 7] for i in range(0, len(days), 7)]
    if view == "month":
        label = day.strftime("%B %Y")
    elif view == "week":
        iso = start.isocalendar()
        label = f"Week {iso.week}, {start:%d %b} to {(end - dt.timedelta(days=1)):%d %b %Y}"
    else:
        label = day.strftime("%A %d %B %Y")
    return {
        "view": view,
        "day": day,
        "start": start,
        "end": end,
        "label": label,
        "days": days,
        "weeks": weeks,
        "entries": entries,
        "cut": cut,
        "prev": prev_day,
        "next": next_day,
        "counts": {
            k: sum(1 for e in entries if e.kind == k) for k in ("change", "maintenance", "freeze")
        },
    }


def _url(params: dict[str, str]) -> str:
    clean = {k: v for k, v in params.items() if v}
    return reverse("transition:calendar") + ("?" + urlencode(clean) if clean else "")


@never_cache
@login_required
def change_calendar(request: HttpRequest) -> HttpResponse:
    require_agent(request, VIEW)
    errors: list[str] = []
    view = request.GET.get("view", "month")
    if view not in VIEWS:
        errors.append(f"Unknown view {view!r}; showing the month.")
        view = "month"
    day = _anchor(request.GET.get("date", ""), errors)
    flt = CalendarFilter.from_query(request.GET, errors)
    cal = build(view, day, flt)
    state = {
        "view": view if view != "month" else "",
        "date": request.GET.get("date", ""),
        **flt.query(),
    }
    views = [
        {
            "slug": v,
            "label": v.capitalize(),
            "current": v == view,
            "url": _url({**state, "view": v if v != "month" else ""}),
        }
        for v in VIEWS
    ]
    chips = []
    for param, label, options in (
        ("service", "Service", service_choices(flt.service)),
        (
            "function",
            "Function",
            list(
                Function.objects.filter(active=True)
                .order_by("name")
                .values_list("reference", "name")
            ),
        ),
        ("risk", "Risk", RiskLevel.choices),
    ):
        value = getattr(flt, param)
        chips.append(
            {
                "param": param,
                "label": label,
                "value": value,
                "options": [
                    {
                        "value": v,
                        "label": lbl,
                        "active": v == value,
                        "url": _url({**state, param: "" if v == value else v}),
                    }
                    for v, lbl in options
                ],
                "clear_url": _url({**state, param: ""}),
            }
        )
    feed = reverse("transition:calendar-feed") + (
        "?" + urlencode(flt.query()) if flt.query() else ""
    )
    return render(
        request,
        "transition/calendar/calendar.html",
        {
            "cal": cal,
            "views": views,
            "chips": chips,
            "errors": errors,
            "filtered": bool(flt.query()),
            "clear_url": _url({"view": state["view"], "date": state["date"]}),
            "prev_url": _url({**state, "date": cal["prev"].isoformat()}),
            "next_url": _url({**state, "date": cal["next"].isoformat()}),
            "today_url": _url({**state, "date": ""}),
            "feed_url": request.build_absolute_uri(feed),
            "has_tokens": ApiToken.objects.filter(user_id=request.user.pk or 0).exists(),
            "weekdays": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
            "tz": timezone.get_current_timezone_name(),
        },
    )


def calendar_feed(request: HttpRequest) -> HttpResponse:
    """The iCalendar feed of the calendar for one filter; ``?token=`` for calendar clients."""
    from itline.core.feeds import feed_user, ics_response
    from itline.transition.ics import change_calendar_ics

    user = feed_user(request)
    if user is None:
        response = HttpResponse(
            "Sign in, or add ?token=<your API token> to the feed URL.\n",
            status=401,
            content_type="text/plain; charset=utf-8",
        )
        response["WWW-Authenticate"] = 'Bearer realm="itline"'
        return response
    if not is_agent(user) or not user.has_perm(VIEW):
        raise PermissionDenied("You may not read the change calendar.")
    errors: list[str] = []
    flt = CalendarFilter.from_query(request.GET, errors)
    if errors:
        return HttpResponse(" ".join(errors), status=400, content_type="text/plain; charset=utf-8")
    cal = change_calendar_ics(flt, base_url=request.build_absolute_uri("/"))
    name = "-".join(["itline-changes", *flt.query().values()])
    return ics_response(cal, name)
