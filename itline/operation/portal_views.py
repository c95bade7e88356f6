"""The requester portal: people who ask IT for help (requesters, purchasers, customer
representatives) submit requests, follow their own records, reply, add files and close what
is done. They see only their own records and only the public side of the conversation;
anything else answers 404, so a guessed reference reveals nothing.

Views stay thin: reads here, every write through the intake and message verbs."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Q
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_http_methods, require_POST

from itline.cmdb.models import Service
from itline.core.errors import DomainError
from itline.operation import services as ops
from itline.operation.choices import (
    INCIDENT_OPEN,
    REQUEST_OPEN,
    IncidentStatus,
    MessageKind,
    RequestStatus,
    RequestType,
)
from itline.operation.models import Attachment, Incident, Message, ServiceRequest
from itline.operation.portal_forms import TYPE_HELP, AttachForm, ReplyForm, RequestForm
from itline.operation.portal_rules import (
    STATE_FILTERS,
    conversation,
    incident_state,
    my_incidents,
    my_requests,
    public_attachments,
    public_to,
    request_state,
)
from itline.operation.services.common import customer_of
from itline.org.models import Customer, Person, person_of

PAGE_SIZE = 20

# --- who may see what ---------------------------------------------------------------------------


def _person(request: HttpRequest) -> Person:
    person = person_of(request.user)
    if person is None:
        raise PermissionDenied(
            "Your sign-in is not linked to a person, so the portal cannot show your requests. "
            "Please contact the service desk."
        )
    return person


def _own_request(request: HttpRequest, ref: str) -> ServiceRequest:
    # Someone else's reference answers exactly like a reference that does not exist.
    return get_object_or_404(
        my_requests(_person(request)).select_related(
            "service", "incident", "incident__service", "requester"
        ),
        reference=ref.upper(),
    )


def _own_incident(request: HttpRequest, ref: str) -> Incident:
    return get_object_or_404(
        my_incidents(_person(request)).select_related("service", "component"),
        reference=ref.upper(),
    )


# --- the list: own requests and incidents, one keyset-paginated stream ------------------------


@dataclass
class Row:
    kind: str  # "request" | "incident"
    pk: int
    reference: str
    title: str
    created_at: datetime
    type_label: str
    service: str
    state: dict[str, str]
    url: str
    incident: Incident | None = None
    incident_state: dict[str, str] | None = None

    def key(self) -> tuple[datetime, int, int]:
        # Newest first; at the same instant requests sort before incidents, then by id.
        return (self.created_at, 1 if self.kind == "request" else 0, self.pk)


def _encode_cursor(row: Row) -> str:
    raw = json.dumps([row.created_at.isoformat(), row.kind, row.pk]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        at, kind, pk = json.loads(base64.urlsafe_b64decode(padded.encode()))
        when = parse_datetime(at) if isinstance(at, str) else None
        if when is None or kind not in ("request", "incident") or not isinstance(pk, int):
            raise ValueError
        return when, kind, pk
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise DomainError("That page link is no longer valid; showing the first page.") from None


def _after(cursor: tuple[datetime, str, int] | None, kind: str) -> Q:
    """Rows that come after ``cursor`` in the merged newest-first order."""
    if cursor is None:
        return Q()
    at, cursor_kind, pk = cursor
    if cursor_kind == kind:
        return Q(created_at__lt=at) | Q(created_at=at, pk__lt=pk)
    if kind == "request":  # requests come before incidents at the same instant
        return Q(created_at__lt=at)
    return Q(created_at__lte=at)


def _request_row(req: ServiceRequest) -> Row:
    inc = req.incident
    return Row(
        kind="request",
        pk=req.pk,
        reference=req.reference,
        title=req.title,
        created_at=req.created_at,
        type_label=req.get_request_type_display(),
        service=req.service.name if req.service else "",
        state=request_state(req),
        url=reverse("portal:request-detail", args=[req.reference]),
        incident=inc,
        incident_state=incident_state(inc) if inc else None,
    )


def _incident_row(inc: Incident) -> Row:
    return Row(
        kind="incident",
        pk=inc.pk,
        reference=inc.reference,
        title=inc.title,
        created_at=inc.created_at,
        type_label="Reported fault",
        service=inc.service.name if inc.service else "",
        state=incident_state(inc),
        url=reverse("portal:incident-detail", args=[inc.reference]),
    )


def _querystring(params: dict[str, str]) -> str:
    clean = {k: v for k, v in params.items() if v}
    return "?" + urlencode(clean) if clean else "?"


@login_required
def request_list(request: HttpRequest) -> HttpResponse:
    person = _person(request)
    q = request.GET.get("q", "").strip()[:200]
    state = request.GET.get("state", "")
    errors: list[str] = []
    if state and state not in STATE_FILTERS:
        errors.append(f"Unknown status filter {state!r}; showing all.")
        state = ""
    cursor = None
    if request.GET.get("cursor"):
        try:
            cursor = _decode_cursor(request.GET["cursor"])
        except DomainError as exc:
            errors.append(exc.message)

    reqs = my_requests(person)
    # An incident that one of my requests became is shown on that request's row.
    incs = Incident.objects.filter(caller=person).exclude(requests__requester=person)
    if q:
        reqs = reqs.filter(
            Q(reference__icontains=q) | Q(title__icontains=q) | Q(incident__reference__icontains=q)
        )
        incs = incs.filter(Q(reference__icontains=q) | Q(title__icontains=q))
    if state:
        _, req_cond, inc_cond = STATE_FILTERS[state]
        reqs, incs = reqs.filter(req_cond), incs.filter(inc_cond)

    # One query per record type for the page, whatever its depth; merged in Python.
    req_page = list(
        reqs.filter(_after(cursor, "request"))
        .select_related("service", "incident")
        .order_by("-created_at", "-pk")[: PAGE_SIZE + 1]
    )
    inc_page = list(
        incs.filter(_after(cursor, "incident"))
        .select_related("service")
        .order_by("-created_at", "-pk")[: PAGE_SIZE + 1]
    )
    rows = sorted(
        [*map(_request_row, req_page), *map(_incident_row, inc_page)],
        key=Row.key,
        reverse=True,
    )
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    params = {"q": q, "state": state}
    total = reqs.count() + incs.count()
    filtered = bool(q or state)
    chips = [
        {"label": "All", "active": not state, "url": _querystring({**params, "state": ""})}
    ] + [
        {
            "label": label,
            "active": key == state,
            "url": _querystring({**params, "state": key}),
        }
        for key, (label, _, _) in STATE_FILTERS.items()
    ]
    return render(
        request,
        "operation/portal/request_list.html",
        {
            "portal_tab": "list",
            "rows": rows,
            "count": total,
            "q": q,
            "state": state,
            "chips": chips,
            "filtered": filtered,
            "errors": errors,
            "clear_url": "?",
            "next_url": _querystring({**params, "cursor": _encode_cursor(rows[-1])})
            if more
            else None,
            "first_url": _querystring(params) if cursor else None,
        },
    )


# --- submit ---------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def request_create(request: HttpRequest) -> HttpResponse:
    person = _person(request)
    customer = customer_of(person)
    initial: dict[str, Any] = {}
    wanted_type = request.GET.get("type", "")
    if wanted_type in RequestType.values:
        initial["request_type"] = wanted_type
    wanted_service = request.GET.get("service", "")
    if wanted_service:
        svc = Service.objects.filter(reference=wanted_service.upper(), catalogue_visible=True)
        initial["service"] = svc.values_list("pk", flat=True).first()
    form = RequestForm(
        request.POST or None, request.FILES or None, customer=customer, initial=initial
    )
    status = 200
    if request.method == "POST":
        status = 422
        if form.is_valid():
            data = form.cleaned_data
            try:
                with transaction.atomic():
                    req = ops.create_request(
                        by=request.user,
                        requester=person,
                        title=data["title"],
                        description=data["description"],
                        request_type=data["request_type"],
                        channel="portal",
                        service=data["service"],
                    )
                    _attach(req, request.user, data["attachments"])
            except (ValidationError, PermissionDenied, DomainError) as exc:
                status = _form_error(form, exc)
            else:
                messages.success(
                    request,
                    f"Thank you. Your request {req.reference} has been received; "
                    "you can follow it here.",
                )
                return redirect("portal:request-detail", ref=req.reference)
    return render(
        request,
        "operation/portal/request_form.html",
        {
            "portal_tab": "new",
            "form": form,
            "customer": customer,
            "type_help": {str(k): v for k, v in TYPE_HELP.items()},
        },
        status=status,
    )


def _attach(record: Any, by: Any, files: Iterable[Any], message: Message | None = None) -> None:
    for f in files:
        ops.add_attachment(
            record,
            by=by,
            filename=f.name,
            content=f.read(),
            mime_type=getattr(f, "content_type", "") or "",
            message=message,
        )


def _form_error(form: Any, exc: Exception) -> int:
    """Put a verb's refusal next to its field (or at the top) and return the status code."""
    if isinstance(exc, ValidationError):
        if hasattr(exc, "error_dict"):
            for name, errs in exc.message_dict.items():
                name = "attachments" if name == "file" else name
                form.add_error(name if name in form.fields else None, errs)
        else:
            form.add_error(None, exc.messages)
        return 422
    if isinstance(exc, DomainError):
        form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        return int(exc.status_code) if exc.status_code != 400 else 422
    form.add_error(None, str(exc) or "You are not allowed to do this.")
    return 403


# --- record pages ------------------------------------------------------------------------------


def _render_request(
    request: HttpRequest,
    req: ServiceRequest,
    *,
    reply_form: ReplyForm | None = None,
    attach_form: AttachForm | None = None,
    status: int = 200,
) -> HttpResponse:
    person = _person(request)
    inc = req.incident
    state = request_state(req)
    talk = conversation(req, person)
    state_text = state["text"]
    return render(
        request,
        "operation/portal/request_detail.html",
        {
            "portal_tab": "list",
            "req": req,
            "state": state,
            "state_text": state_text,
            "can_reply": True,
            "incident": inc,
            "incident_state": incident_state(inc) if inc else None,
            "conversation": talk,
            "attachments": public_attachments(req, person),
            "reply_form": reply_form or ReplyForm(prefix="reply"),
            "attach_form": attach_form or AttachForm(prefix="files"),
            "is_closed": req.status == RequestStatus.CLOSED,
            "is_resolved": req.status == RequestStatus.RESOLVED,
            "reply_url": reverse("portal:request-reply", args=[req.reference]),
            "attach_url": reverse("portal:request-attach", args=[req.reference]),
        },
        status=status,
    )


def _render_incident(
    request: HttpRequest,
    inc: Incident,
    *,
    reply_form: ReplyForm | None = None,
    attach_form: AttachForm | None = None,
    status: int = 200,
) -> HttpResponse:
    person = _person(request)
    state = incident_state(inc)
    linked = list(my_requests(person).filter(incident=inc).only("reference", "title"))
    # Only the caller writes on the incident itself; someone whose request was linked to
    # another person's incident replies on their own request.
    can_reply = inc.caller_id == person.pk
    reply_hint = ""
    if not can_reply and linked:
        reply_hint = f"To add something, reply on your request {linked[0].reference}."
    return render(
        request,
        "operation/portal/incident_detail.html",
        {
            "portal_tab": "list",
            "inc": inc,
            "state": state,
            "state_text": state["text"],
            "can_reply": can_reply,
            "reply_hint": reply_hint,
            "my_requests": linked,
            "conversation": conversation(inc, person),
            "attachments": public_attachments(inc, person),
            "reply_form": reply_form or ReplyForm(prefix="reply"),
            "attach_form": attach_form or AttachForm(prefix="files"),
            "is_closed": inc.status == IncidentStatus.CLOSED,
            "is_resolved": inc.status == IncidentStatus.RESOLVED,
            "reply_url": reverse("portal:incident-reply", args=[inc.reference]),
            "attach_url": reverse("portal:incident-attach", args=[inc.reference]),
        },
        status=status,
    )


@login_required
def request_detail(request: HttpRequest, ref: str) -> HttpResponse:
    return _render_request(request, _own_request(request, ref))


@login_required
def incident_detail(request: HttpRequest, ref: str) -> HttpResponse:
    return _render_incident(request, _own_incident(request, ref))


def _reply(request: HttpRequest, record: Any, form: ReplyForm) -> None:
    """The requester's public reply with its files, in one transaction. A reply on a
    resolved request says it is not done yet, so the request is reopened first."""
    with transaction.atomic():
        if isinstance(record, ServiceRequest) and record.status == RequestStatus.RESOLVED:
            ops.reopen_request(record, by=request.user)
        message = ops.add_message(
            record,
            by=request.user,
            kind=MessageKind.REPLY,
            body=form.cleaned_data["body"],
            author=person_of(request.user),
        )
        _attach(record, request.user, form.cleaned_data["attachments"], message=message)


@login_required
@require_POST
def request_reply(request: HttpRequest, ref: str) -> HttpResponse:
    req = _own_request(request, ref)
    form = ReplyForm(request.POST, request.FILES, prefix="reply")
    status = 422
    if req.status == RequestStatus.CLOSED:
        form.is_valid()
        form.add_error(
            None, f"{req.reference} is closed and takes no more replies; submit a new request."
        )
        status = 409
    elif form.is_valid():
        reopening = req.status == RequestStatus.RESOLVED
        try:
            _reply(request, req, form)
        except (ValidationError, PermissionDenied, DomainError) as exc:
            status = _form_error(form, exc)
        else:
            messages.success(
                request,
                "Your reply was sent; the request is open again."
                if reopening
                else "Your reply was sent to the service desk.",
            )
            return redirect(f"{req_url(req)}#conversation")
    return _render_request(request, _own_request(request, ref), reply_form=form, status=status)


@login_required
@require_POST
def incident_reply(request: HttpRequest, ref: str) -> HttpResponse:
    inc = _own_incident(request, ref)
    if inc.caller_id != _person(request).pk:
        return _not_the_caller(request, inc)
    form = ReplyForm(request.POST, request.FILES, prefix="reply")
    status = 422
    if inc.status == IncidentStatus.CLOSED:
        form.is_valid()
        form.add_error(
            None, f"{inc.reference} is closed and takes no more replies; submit a new request."
        )
        status = 409
    elif form.is_valid():
        try:
            _reply(request, inc, form)
        except (ValidationError, PermissionDenied, DomainError) as exc:
            status = _form_error(form, exc)
        else:
            messages.success(request, "Your reply was sent to the service desk.")
            return redirect(f"{inc_url(inc)}#conversation")
    return _render_incident(request, _own_incident(request, ref), reply_form=form, status=status)


def _not_the_caller(request: HttpRequest, inc: Incident) -> HttpResponse:
    linked = my_requests(_person(request)).filter(incident=inc).first()
    messages.error(
        request,
        f"{inc.reference} was reported by someone else; add to your own request"
        + (f" {linked.reference}" if linked else "")
        + " instead.",
    )
    return _render_incident(request, inc, status=403)


def _add_files(request: HttpRequest, record: Any, form: AttachForm) -> None:
    with transaction.atomic():
        _attach(record, request.user, form.cleaned_data["attachments"])


@login_required
@require_POST
def request_attach(request: HttpRequest, ref: str) -> HttpResponse:
    req = _own_request(request, ref)
    form = AttachForm(request.POST, request.FILES, prefix="files")
    status = 422
    if req.status == RequestStatus.CLOSED:
        form.is_valid()
        form.add_error(None, f"{req.reference} is closed; files can no longer be added.")
        status = 409
    elif form.is_valid():
        try:
            _add_files(request, req, form)
        except (ValidationError, PermissionDenied, DomainError) as exc:
            status = _form_error(form, exc)
        else:
            n = len(form.cleaned_data["attachments"])
            messages.success(request, f"{n} file{'s' if n != 1 else ''} added.")
            return redirect(f"{req_url(req)}#files")
    return _render_request(request, _own_request(request, ref), attach_form=form, status=status)


@login_required
@require_POST
def incident_attach(request: HttpRequest, ref: str) -> HttpResponse:
    inc = _own_incident(request, ref)
    if inc.caller_id != _person(request).pk:
        return _not_the_caller(request, inc)
    form = AttachForm(request.POST, request.FILES, prefix="files")
    status = 422
    if inc.status == IncidentStatus.CLOSED:
        form.is_valid()
        form.add_error(None, f"{inc.reference} is closed; files can no longer be added.")
        status = 409
    elif form.is_valid():
        try:
            _add_files(request, inc, form)
        except (ValidationError, PermissionDenied, DomainError) as exc:
            status = _form_error(form, exc)
        else:
            n = len(form.cleaned_data["attachments"])
            messages.success(request, f"{n} file{'s' if n != 1 else ''} added.")
            return redirect(f"{inc_url(inc)}#files")
    return _render_incident(request, _own_incident(request, ref), attach_form=form, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def request_close(request: HttpRequest, ref: str) -> HttpResponse:
    """GET asks for confirmation; POST closes the request."""
    req = _own_request(request, ref)
    error = ""
    status = 200
    if req.status == RequestStatus.CLOSED:
        messages.info(request, f"{req.reference} is already closed.")
        return redirect(req_url(req))
    if request.method == "POST":
        try:
            ops.close_request(req, by=request.user)
        except (PermissionDenied, DomainError, ValidationError) as exc:
            error = (
                getattr(exc, "message", None) or "; ".join(getattr(exc, "messages", [])) or str(exc)
            )
            status = getattr(exc, "status_code", 403 if isinstance(exc, PermissionDenied) else 422)
        else:
            messages.success(request, f"{req.reference} is closed. Thank you for letting us know.")
            return redirect(req_url(req))
    return render(
        request,
        "operation/portal/request_close.html",
        {
            "portal_tab": "list",
            "req": req,
            "state": request_state(req),
            "is_resolved": req.status == RequestStatus.RESOLVED,
            "error": error,
        },
        status=status,
    )


def req_url(req: ServiceRequest) -> str:
    return reverse("portal:request-detail", args=[req.reference])


def inc_url(inc: Incident) -> str:
    return reverse("portal:incident-detail", args=[inc.reference])


@login_required
def attachment_download(request: HttpRequest, pk: int) -> FileResponse:
    """A file of one of the person's own records. Always sent as a download, so a file
    that is really HTML or SVG never runs in the portal's origin."""
    person = _person(request)
    att = Attachment.objects.filter(pk=pk).select_related("message").first()
    if att is None:
        raise Http404("No such file")
    if att.message is None:
        if att.created_by_id is None or att.created_by_id != person.user_id:
            raise Http404("No such file")
    elif not public_to(att.message, person):
        raise Http404("No such file")
    model = att.content_type.model_class()
    if model is ServiceRequest:
        visible = my_requests(person).filter(pk=att.object_id).exists()
    elif model is Incident:
        visible = my_incidents(person).filter(pk=att.object_id).exists()
    else:
        visible = False
    if not visible:
        raise Http404("No such file")
    try:
        handle = att.file.open("rb")
    except (FileNotFoundError, ValueError):
        raise Http404("The file is no longer stored") from None
    return FileResponse(
        handle,
        as_attachment=True,
        filename=att.filename,
        content_type="application/octet-stream",
    )


# --- the portal home ------------------------------------------------------------------------------


def home_context(user: Any) -> dict[str, Any]:
    """What the portal home shows next to the person's details: their open records, what
    waits for them, and how the services their customer uses are doing."""
    person = person_of(user)
    if person is None:
        return {"portal_ready": False}
    reqs = my_requests(person)
    # Resolved requests stay here until the person confirms (closes) or reopens them.
    open_reqs = list(
        reqs.filter(status__in={*REQUEST_OPEN, RequestStatus.RESOLVED})
        .select_related("incident")
        .order_by("-created_at", "-pk")[:5]
    )
    counts = reqs.aggregate(
        open=Count("pk", filter=Q(status__in=REQUEST_OPEN)),
        waiting=Count("pk", filter=Q(status=RequestStatus.WAITING_FOR_REQUESTER)),
        resolved=Count("pk", filter=Q(status=RequestStatus.RESOLVED)),
    )
    customer: Customer | None = customer_of(person)
    status_rows: list[dict[str, Any]] = []
    if customer is not None:
        services = (
            Service.objects.filter(customers=customer, catalogue_visible=True)
            .annotate(
                major=Count(
                    "incidents",
                    filter=Q(incidents__status__in=INCIDENT_OPEN, incidents__major=True),
                ),
                urgent=Count(
                    "incidents",
                    filter=Q(incidents__status__in=INCIDENT_OPEN, incidents__priority__lte=2),
                ),
            )
            .order_by("name")
        )
        for svc in services:
            if svc.major:  # type: ignore[attr-defined]
                state = ("red", "Major disruption", "We are working on it with priority.")
            elif svc.urgent:  # type: ignore[attr-defined]
                state = ("amber", "Disruption", "A known fault is being worked on.")
            else:
                state = ("green", "No known disruption", "")
            status_rows.append(
                {"service": svc, "colour": state[0], "label": state[1], "text": state[2]}
            )
    return {
        "portal_ready": True,
        "open_rows": [_request_row(r) for r in open_reqs],
        "counts": counts,
        "service_status": status_rows,
        "status_customer": customer,
    }
