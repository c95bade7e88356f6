"""Create and edit pages for plain records: a ModelForm for rendering and field validation,
the app's verb for the write. Model and permission errors come back next to their field."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from itline.core import journal
from itline.org.roles import is_agent


def require_agent(request: HttpRequest, perm: str) -> None:
    """Agent screens: portal roles never see them, whatever else they hold."""
    if not request.user.is_authenticated:
        raise PermissionDenied("Sign in first.")
    if not is_agent(request.user) or not request.user.has_perm(perm):
        raise PermissionDenied("You are not allowed to see this page.")


def form_page(
    request: HttpRequest,
    *,
    form_class: type[ModelForm],  # type: ignore[type-arg]
    instance: models.Model | None,
    save: Callable[[Any], models.Model],
    title: str,
    cancel_url: str,
    success_message: str,
    pass_form: bool = False,
) -> HttpResponse:
    """GET shows the form; POST validates, calls ``save(cleaned_data)`` (or ``save(form)``
    with ``pass_form``) and redirects to the record. Errors (form, model or permission) re-render the form with status 422."""
    form = form_class(request.POST or None, instance=instance)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                obj = save(form if pass_form else form.cleaned_data)
            except ValidationError as exc:
                if hasattr(exc, "error_dict"):
                    for field, errs in exc.message_dict.items():
                        form.add_error(field if field in form.fields else None, errs)
                else:
                    form.add_error(None, exc.messages)
            except PermissionDenied as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, success_message.format(obj=obj))
                return redirect(obj.get_absolute_url())  # type: ignore[attr-defined]
        status = 422
    return render(
        request,
        "core/form_page.html",
        {"form": form, "title": title, "cancel_url": cancel_url, "instance": instance},
        status=status,
    )


def timeline(obj: models.Model) -> list[Any]:
    return list(journal.entries_for(obj))
